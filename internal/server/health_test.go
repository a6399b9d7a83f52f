package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
	"github.com/mapmesh/mapmesh/internal/store/projection"
)

type fakeCheck struct{ err error }

func (f fakeCheck) Check(context.Context) error { return f.err }

// silentStore is a store that does not answer: its check waits until the
// request's bound.
type silentStore struct{}

func (silentStore) Check(ctx context.Context) error {
	<-ctx.Done()
	return fmt.Errorf("etcdstore: rev: %w", ctx.Err())
}

// askedCheck records that it was asked.
type askedCheck struct{ asked *atomic.Bool }

func (c askedCheck) Check(context.Context) error { c.asked.Store(true); return nil }

// TestHealthHandler: GET /_mapmesh/health says ok only when every
// projection keeps up, and names the ones that stopped or lag, or the store
// when it does not answer.
func TestHealthHandler(t *testing.T) {
	get := func(parts map[string]checker) (int, string) {
		rec := httptest.NewRecorder()
		healthHandler(parts).ServeHTTP(rec, httptest.NewRequest("GET", "/_mapmesh/health", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(map[string]checker{"a": fakeCheck{}, "b": fakeCheck{}}); code != 200 || body != "ok\n" {
		t.Errorf("health with every part keeping up = %d %q; want 200 ok", code, body)
	}
	code, body := get(map[string]checker{"a": fakeCheck{}, "b": fakeCheck{fmt.Errorf("b: %w", projection.ErrBehind)}})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "b: ") || strings.Contains(body, "a: ") {
		t.Errorf("health with b behind = %d %q; want 503 naming b only", code, body)
	}

	// A store that does not answer (etcd without a quorum) is named as
	// such, once: the projections that compare themselves with it are not
	// asked (they would wait for it too), the listeners are.
	var viewAsked, listenerAsked atomic.Bool
	start := time.Now()
	code, body = get(map[string]checker{storePart: silentStore{}, "cloudmap": followsStore{askedCheck{&viewAsked}},
		"dns": askedCheck{&listenerAsked}})
	took := time.Since(start)
	want := "store: does not answer within 2s\ncloudmap: unknown: the store does not answer\n"
	if code != http.StatusServiceUnavailable || body != want || viewAsked.Load() || !listenerAsked.Load() {
		t.Errorf("readiness with a silent store = %d %q (projection asked: %v, listener asked: %v); want 503 %q, the listener asked",
			code, body, viewAsked.Load(), listenerAsked.Load(), want)
	}
	if took > healthCheckTimeout+time.Second {
		t.Errorf("readiness with a silent store answered after %v; want about %v", took, healthCheckTimeout)
	}

	// Real backends whose store closes under them: their followers stop.
	ctx := context.Background()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "m.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := cloudmap.New(ctx, st, cloudmap.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer cm.Close()
	am, err := appmesh.New(ctx, st, appmesh.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer am.Close()
	parts := map[string]checker{"cloudmap": cm, "appmesh": am,
		"store": checkFunc(func(ctx context.Context) error { _, err := st.Rev(ctx); return err })}
	if code, body := get(parts); code != 200 {
		t.Fatalf("health of running backends = %d %q; want 200", code, body)
	}
	st.Close()
	code, body = get(parts)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "cloudmap: ") || !strings.Contains(body, "appmesh: ") ||
		!strings.Contains(body, "store: ") {
		t.Errorf("readiness after the store closed = %d %q; want 503 naming the store and both projections", code, body)
	}
}
