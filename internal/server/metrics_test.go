package server_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
)

// metric returns the value of the sample of /metrics that matches re.
func metric(t *testing.T, body, re string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + re + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	return string(b)
}

// TestMetrics: /metrics counts API calls by operation and code, and DNS
// queries by type and response code, and exports the runtime's figures.
func TestMetrics(t *testing.T) {
	srv := servertest.Start(t, server.Config{})
	before := scrape(t, srv.URL)
	for range 3 {
		if got := listNamespaces(t, srv.URL, 10*time.Second); got != 200 {
			t.Fatalf("ListNamespaces = %d", got)
		}
	}
	req, _ := http.NewRequest("POST", srv.URL+"/", nil)
	req.Header.Set("X-Amz-Target", "Route53AutoNaming_v20170314.GetService")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m := new(dns.Msg)
	m.SetQuestion("nothing.example.", dns.TypeA)
	if _, err := dns.Exchange(m, srv.DNSAddr); err != nil {
		t.Fatal(err)
	}
	after := scrape(t, srv.URL)
	ok := `mapmesh_api_requests_total\{code="",operation="ListNamespaces",service="servicediscovery"\}`
	if d := metric(t, after, ok) - metric(t, before, ok); d != 3 {
		t.Errorf("ListNamespaces counted %v more times; want 3", d)
	}
	bad := `mapmesh_api_requests_total\{code="InvalidInput",operation="GetService",service="servicediscovery"\}`
	if metric(t, after, bad) != 1 {
		t.Errorf("a GetService without Id was not counted with its code InvalidInput:\n%s", after)
	}
	if metric(t, after, `mapmesh_api_request_duration_seconds_count\{code="",operation="ListNamespaces",service="servicediscovery"\}`) < 3 {
		t.Error("no latency observed for ListNamespaces")
	}
	if metric(t, after, `mapmesh_dns_queries_total\{qtype="A",rcode="\w+"\}`) < 1 {
		t.Errorf("the DNS query was not counted")
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "mapmesh_store_commits_total", "mapmesh_store_checkpoint_revision",
		`mapmesh_projection_lag_revisions\{view="cloudmap"\}`, "mapmesh_xds_connected_streams", "mapmesh_health_checks"} {
		if !regexp.MustCompile(`(?m)^` + name + ` `).MatchString(after) {
			t.Errorf("/metrics has no %s", name)
		}
	}
}
