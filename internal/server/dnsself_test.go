package server_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
)

// TestDNSSelfName: --dns-self-name makes DNS answer the name and its data-
// twin (where SDKs send DiscoverInstances) with the API's address.
func TestDNSSelfName(t *testing.T) {
	srv := servertest.Start(t, server.Config{DNSSelfName: "mapmesh.internal"})
	for _, name := range []string{"mapmesh.internal.", "data-mapmesh.internal."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		r, err := dns.Exchange(m, srv.DNSAddr)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.1" || !r.Authoritative {
			t.Errorf("%s A = %v (aa %v); want 127.0.0.1, authoritative", name, r.Answer, r.Authoritative)
		}
	}
}

func TestDNSSelfNameErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"every address, no --dns-self-addr", []string{"--api-addr", "0.0.0.0:0", "--insecure", "--dns-self-name", "mapmesh.internal"}, "needs --dns-self-addr"},
		{"not a host name", []string{"--dns-self-name", "map mesh"}, "is not a host name"},
		{"DNS off", []string{"--dns-addr", "", "--dns-self-name", "mapmesh.internal"}, "needs DNS"},
		{"address without name", []string{"--dns-self-addr", "10.0.0.1"}, "needs --dns-self-name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("mapmesh", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f := server.NewFlags(fs)
			args := append([]string{"--data-dir", t.TempDir(), "--xds-addr", "", "--dns-addr", "127.0.0.1:0"}, tc.args...)
			if err := f.Parse(args, func(string) string { return "" }, io.Discard); err != nil {
				t.Fatalf("Parse(%q) = %v", args, err)
			}
			f.Config.Logger = slog.New(slog.DiscardHandler)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // were it to start
			defer cancel()
			err := server.Run(ctx, f.Config)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run(%q) = %v; want an error with %q", tc.args, err, tc.want)
			}
		})
	}
}

func TestFlagsDNSSelfAddr(t *testing.T) {
	f := server.NewFlags(flag.NewFlagSet("mapmesh", flag.ContinueOnError))
	if err := f.Parse([]string{"--dns-self-name", "mapmesh.internal"}, func(k string) string {
		return map[string]string{"MAPMESH_DNS_SELF_ADDR": "10.0.0.5, fd00::5"}[k]
	}, io.Discard); err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::5")}
	if c := f.Config; c.DNSSelfName != "mapmesh.internal" || len(c.DNSSelfAddrs) != 2 || c.DNSSelfAddrs[0] != want[0] || c.DNSSelfAddrs[1] != want[1] {
		t.Errorf("DNSSelfName, DNSSelfAddrs = %q, %v; want mapmesh.internal, %v", c.DNSSelfName, c.DNSSelfAddrs, want)
	}
	fs := flag.NewFlagSet("mapmesh", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := server.NewFlags(fs).Parse([]string{"--dns-self-addr", "nope"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("Parse(--dns-self-addr nope) = nil; want an error")
	}
}
