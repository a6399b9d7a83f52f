//go:build etcd

package cluster

import (
	"fmt"
	"sort"
	"time"

	"github.com/miekg/dns"
)

// lookupA asks addr for name's A records over UDP, with a short timeout
// and one retry, and returns the addresses, sorted, and the response code.
func lookupA(addr, name string) ([]string, int, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	var lastErr error
	for range 2 {
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			lastErr = err
			continue
		}
		out := []string{}
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				out = append(out, a.A.String())
			}
		}
		sort.Strings(out)
		return out, r.Rcode, nil
	}
	return nil, -1, fmt.Errorf("DNS %s A: %w", name, lastErr)
}
