//go:build e2e

package system

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

// query asks addr one question over UDP (then TCP when the answer is
// truncated), with a short timeout and one retry.
func query(addr, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
		r, _, err := c.Exchange(m, addr)
		if err == nil && r.Truncated {
			c.Net = "tcp"
			r, _, err = c.Exchange(m, addr)
		}
		if err == nil {
			return r, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("DNS %s %s: %w", name, dns.TypeToString[qtype], lastErr)
}

// answers returns the A addresses, or the SRV "port target" strings, of
// an answer, sorted.
func answers(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.SRV:
			out = append(out, strconv.Itoa(int(rr.Port))+" "+rr.Target)
		}
	}
	sort.Strings(out)
	return out
}

// union asks the same question n times and returns every answer seen, and
// an error for the first failed query or unexpected response code. DNS
// answers up to 8 of the healthy records at random, so several questions
// see them all.
func union(addr, name string, qtype uint16, n int) (map[string]bool, int, error) {
	seen := map[string]bool{}
	rcode := -1
	for range n {
		r, err := query(addr, name, qtype)
		if err != nil {
			return seen, rcode, err
		}
		if rcode >= 0 && r.Rcode != rcode {
			return seen, rcode, fmt.Errorf("DNS %s %s: response code %s, then %s", name, dns.TypeToString[qtype], dns.RcodeToString[rcode], dns.RcodeToString[r.Rcode])
		}
		rcode = r.Rcode
		for _, a := range answers(r) {
			seen[a] = true
		}
	}
	return seen, rcode, nil
}
