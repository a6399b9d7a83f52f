package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
	"github.com/mapmesh/mapmesh/internal/store/projection"
)

type fakeCheck struct{ err error }

func (f fakeCheck) Check(context.Context) error { return f.err }

// TestHealthHandler: GET /_mapmesh/health says ok only when every
// projection keeps up, and names the ones that stopped or lag.
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
