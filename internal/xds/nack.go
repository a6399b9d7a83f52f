package xds

import (
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
)

// nackCache is a snapshot cache that does not answer a NACK with the
// configuration the client has just rejected.
//
// A NACK is a request with ErrorDetail set whose VersionInfo is the last
// version the client accepted ("" if none), not the one it rejected.
// go-control-plane's snapshot cache (v0.14.0, CreateWatch) compares only
// VersionInfo with the snapshot's version: they differ, so it answers at
// once with the current snapshot, the very configuration rejected; the
// client rejects it again, and the two loop as fast as the stream carries
// them (upstream issues #46 and #962). nackCache hands the cache the
// request as if it named the rejected version, so the cache holds a watch
// and answers when the configuration of that node and type changes, or at
// once if it already has.
//
// Which version was rejected: the sotw server passes a request on only if
// its nonce is that of the last response of its type on its stream (or no
// response was sent yet), and the subscription holds what that response
// returned, each resource with the response's version. A response that
// returned nothing leaves no version; then the client is taken to have the
// snapshot's version if the snapshot has none of the resources asked for
// either, since the answer would be the same empty one.
//
// Delta requests are passed through: the delta cache sends only resources
// whose versions differ from those last sent, so a NACK does not loop.
type nackCache struct {
	cache.SnapshotCache
	hash cache.NodeHash
}

var _ cache.Cache = nackCache{}

// CreateWatch implements cache.ConfigWatcher.
func (c nackCache) CreateWatch(r *cache.Request, sub cache.Subscription, ch chan cache.Response) (func(), error) {
	if r.GetErrorDetail() != nil {
		if v, ok := c.rejected(r, sub); ok && v != r.GetVersionInfo() {
			// A copy: the request is the client's, and the server keeps it.
			r = proto.Clone(r).(*discovery.DiscoveryRequest)
			r.VersionInfo = v
		}
	}
	return c.SnapshotCache.CreateWatch(r, sub, ch)
}

// rejected returns the version the client of a NACK is to be taken to
// have: the one it rejected, or for an empty response, the snapshot's if
// the answer would be as empty. It returns false when it cannot tell; the
// cache then answers as it would.
func (c nackCache) rejected(r *cache.Request, sub cache.Subscription) (string, bool) {
	v, n := "", 0
	for _, rv := range sub.ReturnedResources() {
		if n > 0 && rv != v {
			return "", false // not one response's: not the snapshot cache's sotw
		}
		v, n = rv, n+1
	}
	if n > 0 {
		return v, true
	}
	snap, err := c.GetSnapshot(c.hash.ID(r.GetNode()))
	if err != nil {
		return "", false // no snapshot yet: the cache waits for one anyway
	}
	// The cache answers with the resources named, or all if none are.
	res := snap.GetResources(r.GetTypeUrl())
	if names := r.GetResourceNames(); len(names) > 0 {
		for _, name := range names {
			if _, ok := res[name]; ok {
				return "", false
			}
		}
	} else if len(res) > 0 {
		return "", false
	}
	return snap.GetVersion(r.GetTypeUrl()), true
}
