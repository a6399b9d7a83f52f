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

// TestConsoleWired: the server serves the console and its API; an events
// stream outlives the read timeout (which bounds reading requests, not
// answering them) and does not hold the server's shutdown.
func TestConsoleWired(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	s := servertest.Start(t, server.Config{ReadTimeout: readTimeout})
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
	body := bufio.NewReader(resp.Body)
	line, err := body.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("events stream starts %q, %v; want retry:", line, err)
	}
	time.Sleep(3 * readTimeout)
	req, _ = http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(`{"Name": "late.local"}`))
	req.Header.Set("X-Amz-Target", "Route53AutoNaming_v20170314.CreateHttpNamespace")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	created, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	created.Body.Close()
	got := make(chan string, 1)
	go func() {
		for {
			line, err := body.ReadString('\n')
			if err != nil || strings.HasPrefix(line, "event: changed") {
				got <- line
				return
			}
		}
	}()
	select {
	case line := <-got:
		if !strings.HasPrefix(line, "event: changed") {
			t.Fatalf("events stream after %v: %q; want a changed event", 3*readTimeout, line)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no changed event %v after the stream opened", 3*readTimeout)
	}
	start := time.Now()
	s.Stop(t)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutdown with an open events stream took %v; want it ended at once", took)
	}
}
