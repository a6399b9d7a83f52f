package healthcheck

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// Health checks connect to whatever address an API user registers. Left
// open, that makes the checker a scanner for anyone who can call
// RegisterInstance: of the server's own host (loopback, its admin ports),
// of the cloud's metadata service, of link-local neighbours. So by default
// probes may not target those; operators widen or narrow it.

// DefaultDenied are the prefixes probes may not target unless an allowed
// prefix says otherwise: loopback, "this network", link-local (which holds
// the instance metadata service, 169.254.169.254 and fd00:ec2::254 on AWS),
// and IPv6's unspecified address.
var DefaultDenied = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
}

// policy decides which targets may be probed. Precedence, first match
// wins: mapmesh's own listeners (never); the denied prefixes (never); the
// allowed prefixes (yes); the default denied prefixes (never); then yes
// when no allowed prefix was given, else never.
type policy struct {
	allowed, denied []netip.Prefix
	own             atomic.Pointer[ownAddrs]
}

// ownAddrs are mapmesh's listeners.
type ownAddrs struct {
	exact []netip.AddrPort
	// anyPorts are the ports of listeners on an unspecified address: they
	// take every local address (local).
	anyPorts map[uint16]bool
	local    []netip.Addr
}

// refusal says why a target may not be probed; empty means it may.
func (p *policy) refusal(a netip.AddrPort) string {
	ip := a.Addr().Unmap()
	if own := p.own.Load(); own != nil && own.has(ip, a.Port()) {
		return "the target is one of mapmesh's own listeners"
	}
	if in(p.denied, ip) {
		return "the target address is in --health-denied-cidrs"
	}
	if in(p.allowed, ip) {
		return ""
	}
	if in(DefaultDenied, ip) {
		return "the target address is loopback, link-local or unspecified, which health checks may not probe unless --health-allowed-cidrs allows it"
	}
	if len(p.allowed) > 0 {
		return "the target address is outside --health-allowed-cidrs"
	}
	return ""
}

func (o *ownAddrs) has(ip netip.Addr, port uint16) bool {
	for _, e := range o.exact {
		if e.Addr() == ip && e.Port() == port {
			return true
		}
	}
	if !o.anyPorts[port] {
		return false
	}
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	for _, l := range o.local {
		if l == ip {
			return true
		}
	}
	return false
}

func in(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// setOwn records mapmesh's listen addresses.
func (p *policy) setOwn(addrs []net.Addr) {
	o := &ownAddrs{anyPorts: map[uint16]bool{}}
	for _, a := range addrs {
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			continue
		}
		if ap.Addr().IsUnspecified() {
			o.anyPorts[ap.Port()] = true
			continue
		}
		o.exact = append(o.exact, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	if len(o.anyPorts) > 0 {
		if ifs, err := net.InterfaceAddrs(); err == nil {
			for _, ia := range ifs {
				if pfx, err := netip.ParsePrefix(ia.String()); err == nil {
					o.local = append(o.local, pfx.Addr().Unmap())
				}
			}
		}
	}
	p.own.Store(o)
}
