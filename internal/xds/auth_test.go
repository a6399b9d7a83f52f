package xds

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mapmesh/mapmesh/internal/awsapi"
)

func TestSignedHost(t *testing.T) {
	for _, tc := range []struct{ authority, want string }{
		{"mapmesh.internal:9754", "mapmesh.internal:9754"},
		{"mapmesh.internal:443", "mapmesh.internal"},
		{"mapmesh.internal:80", "mapmesh.internal"},
		{"mapmesh.internal:8080", "mapmesh.internal:8080"},
		{"mapmesh.internal:1443", "mapmesh.internal:1443"},
		{"[::1]:443", "[::1]"},
		{"127.0.0.1:9754", "127.0.0.1:9754"},
		{"", ""},
	} {
		if got := signedHost(tc.authority); got != tc.want {
			t.Errorf("signedHost(%q) = %q; want %q", tc.authority, got, tc.want)
		}
	}
}

func TestBindNode(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler), refusals: newRefusalLog()}
	c := awsapi.Caller{Account: "111111111111", Region: "eu-west-1", AccessKey: "AKIAA", Verified: true}
	for _, tc := range []struct {
		name, id, want string
		code           codes.Code
	}{
		{"short form", "mesh/m/virtualNode/n", "arn:aws:appmesh:eu-west-1:111111111111:mesh/m/virtualNode/n", codes.OK},
		{"short form gateway", "mesh/m/virtualGateway/g", "arn:aws:appmesh:eu-west-1:111111111111:mesh/m/virtualGateway/g", codes.OK},
		{"own ARN", "arn:aws:appmesh:us-west-2:111111111111:mesh/m/virtualNode/n", "arn:aws:appmesh:us-west-2:111111111111:mesh/m/virtualNode/n", codes.OK},
		{"other account's ARN", "arn:aws:appmesh:eu-west-1:222222222222:mesh/m/virtualNode/n", "", codes.PermissionDenied},
		{"other account's preview ARN", "arn:aws:appmesh-preview:eu-west-1:222222222222:mesh/m/virtualNode/n", "", codes.PermissionDenied},
		{"own mesh@owner", "mesh/m@111111111111/virtualNode/n", "arn:aws:appmesh:eu-west-1:111111111111:mesh/m/virtualNode/n", codes.OK},
		{"other account's mesh@owner", "mesh/m@222222222222/virtualNode/n", "", codes.PermissionDenied},
		{"names nothing", "not-an-app-mesh-node", "not-an-app-mesh-node", codes.OK},
		{"ARN that names nothing", "arn:aws:appmesh:eu-west-1:222222222222:mesh/m", "arn:aws:appmesh:eu-west-1:222222222222:mesh/m", codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &core.Node{Id: tc.id}
			err := s.bindNode(context.Background(), c, n)
			if status.Code(err) != tc.code {
				t.Fatalf("bindNode(%q) = %v; want %v", tc.id, err, tc.code)
			}
			if err == nil && n.Id != tc.want {
				t.Errorf("bindNode(%q): node id %q; want %q", tc.id, n.Id, tc.want)
			}
		})
	}
	if err := s.bindNode(context.Background(), c, nil); err != nil {
		t.Errorf("bindNode(nil) = %v; want nil (a request that reuses the stream's node)", err)
	}
	if got := s.Stats().PermissionDenied; got != 3 {
		t.Errorf("Stats().PermissionDenied = %d; want 3", got)
	}
}

// levels is a slog.Handler that keeps the levels of the records.
type levels struct {
	mu  sync.Mutex // guards got
	got []slog.Level
}

func (h *levels) Enabled(context.Context, slog.Level) bool { return true }
func (h *levels) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *levels) WithGroup(string) slog.Handler            { return h }
func (h *levels) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, r.Level)
	return nil
}

// TestRefusalLogRateLimited: a burst of refusals is logged at warn
// refusalBurst times, the rest at debug.
func TestRefusalLogRateLimited(t *testing.T) {
	h := &levels{}
	l, log := newRefusalLog(), slog.New(h)
	for range 100 {
		l.log(context.Background(), log, "refused")
	}
	warn := 0
	for _, lv := range h.got {
		if lv == slog.LevelWarn {
			warn++
		}
	}
	// One more token may have been refilled while the loop ran.
	if warn < refusalBurst || warn > refusalBurst+1 || len(h.got) != 100 {
		t.Errorf("100 refusals logged %d lines, %d at warn; want 100, %d at warn", len(h.got), warn, refusalBurst)
	}
}
