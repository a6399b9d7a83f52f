// Package dnsserver serves the DNS namespaces of Cloud Map as authoritative
// zones, the way Route 53 serves the hosted zones Cloud Map makes: an A,
// AAAA, SRV or CNAME record per registered instance, chosen per query by the
// service's routing policy and the instances' health.
//
// Queries are answered from an immutable view that a builder keeps current
// from the Cloud Map read model (cloudmap.Backend's Subscribe and read
// methods), never from the store: the builder records what each change
// notification names, rebuilds only those services and their zones (about
// once per Config.Interval at most, so a burst of registrations costs one
// rebuild, not one per registration), and swaps the new view in atomically. Health is evaluated when a service
// is built; a custom health status that matures later is applied at query
// time from the moment it matures, and the service is rebuilt then too.
//
// docs/dns.md describes every behaviour choice (zones with the same name,
// SOA and NS contents, negative TTLs, truncation, aliases).
package dnsserver
