package xds

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestNACKCache: which requests the snapshot cache behind nackCache
// answers at once, and with which version; the others it holds until the
// configuration changes. Listeners at the version of the snapshot, and
// the resources the last response returned with theirs, stand for every
// type.
func TestNACKCache(t *testing.T) {
	snap := func(version string, names ...string) *cache.Snapshot {
		var ls []types.Resource
		for _, n := range names {
			ls = append(ls, &listener.Listener{Name: n})
		}
		s := &cache.Snapshot{}
		s.Resources[types.Listener] = cache.NewResources(version, ls)
		return s
	}
	for _, tc := range []struct {
		name     string
		snapshot *cache.Snapshot // nil: none yet
		// The request: its VersionInfo, resource names, and whether it is
		// a NACK; returned is what the response before it returned.
		accepted string
		names    []string
		nack     bool
		returned map[string]string
		want     string // the version answered at once; "": none
	}{
		{name: "first request", snapshot: snap("2", "a"), want: "2"},
		{name: "ACK of the current version", snapshot: snap("2", "a"), accepted: "2", returned: map[string]string{"a": "2"}},
		{name: "ACK of an old version", snapshot: snap("2", "a"), accepted: "1", returned: map[string]string{"a": "1"}, want: "2"},
		{name: "NACK of the current version", snapshot: snap("2", "a"), accepted: "1", nack: true, returned: map[string]string{"a": "2"}},
		{name: "NACK of the first version", snapshot: snap("2", "a"), nack: true, returned: map[string]string{"a": "2"}},
		{name: "NACK of an old version", snapshot: snap("3", "a"), accepted: "1", nack: true, returned: map[string]string{"a": "2"}, want: "3"},
		{name: "NACK naming a new resource", snapshot: snap("2", "a", "b"), names: []string{"a", "b"}, nack: true,
			returned: map[string]string{"a": "2"}, want: "2"},
		{name: "NACK of an empty response, still empty", snapshot: snap("2"), nack: true},
		{name: "NACK of an empty response, no longer empty", snapshot: snap("3", "a"), nack: true, want: "3"},
		{name: "NACK of an empty named response, still none of them", snapshot: snap("3"), names: []string{"b"}, nack: true},
		{name: "NACK of an empty named response, one exists now", snapshot: snap("3", "b"), names: []string{"b"}, nack: true, want: "3"},
		{name: "NACK as the first request", snapshot: snap("2", "a"), nack: true, want: "2"},
		{name: "NACK before any snapshot", nack: true},
	} {
		for _, ads := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/ads=%v", tc.name, ads), func(t *testing.T) {
				sc := cache.NewSnapshotCache(ads, cache.IDHash{}, cacheLogger{slog.New(slog.DiscardHandler)})
				c := nackCache{sc, cache.IDHash{}}
				if tc.snapshot != nil {
					if err := sc.SetSnapshot(context.Background(), "n", tc.snapshot); err != nil {
						t.Fatal(err)
					}
				}
				req := &cache.Request{Node: &core.Node{Id: "n"}, TypeUrl: resource.ListenerType, VersionInfo: tc.accepted, ResourceNames: tc.names}
				if tc.nack {
					req.ErrorDetail = status.New(codes.InvalidArgument, "rejected").Proto()
				}
				sub := streamv3.NewSotwSubscription(tc.names, true)
				sub.SetReturnedResources(tc.returned)
				ch := make(chan cache.Response, 1)
				cancel, err := c.CreateWatch(req, &sub, ch)
				if err != nil {
					t.Fatal(err)
				}
				defer cancel()
				got := ""
				select {
				case r := <-ch:
					got = r.GetResponseVersion()
				default:
				}
				if got != tc.want {
					t.Fatalf("CreateWatch(version %q, names %v, NACK %v, after %v) = version %q at once; want %q", tc.accepted, tc.names, tc.nack,
						tc.returned, got, tc.want)
				}
				if req.VersionInfo != tc.accepted {
					t.Errorf("CreateWatch changed the request's version to %q", req.VersionInfo)
				}
				if got != "" {
					return
				}
				// Held: answered when the configuration changes.
				names := tc.names
				if len(names) == 0 {
					names = []string{"a"}
				}
				if err := sc.SetSnapshot(context.Background(), "n", snap("9", names...)); err != nil {
					t.Fatal(err)
				}
				select {
				case r := <-ch:
					if v := r.GetResponseVersion(); v != "9" {
						t.Errorf("after the change, the held watch answered version %q; want 9", v)
					}
				default:
					t.Errorf("after the change, the held watch did not answer")
				}
			})
		}
	}
}
