package server_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
)

// TestConsoleWired: the server serves the console and its API, and an open
// events stream does not hold its shutdown.
func TestConsoleWired(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	for _, path := range []string{"/console/", "/console/api/accounts"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d; want 200", path, resp.StatusCode)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/console/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("events stream starts %q, %v; want retry:", line, err)
	}
	start := time.Now()
	s.Stop(t)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutdown with an open events stream took %v; want it ended at once", took)
	}
}
