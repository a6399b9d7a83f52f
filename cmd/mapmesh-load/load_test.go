package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testAccessKey = "123456789012"
	testSecretKey = "test-secret"
)

// verifySigV4 checks r's signature the way a server does: re-sign a request
// that carries only the signed headers, at the time in X-Amz-Date, with the
// scope from the credential, and compare.
func verifySigV4(r *http.Request, body []byte, secret string) error {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return fmt.Errorf("authorization %q: not SigV4", auth)
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(rest, ", ") {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/") // AKID/date/region/service/aws4_request
	if len(scope) != 5 {
		return fmt.Errorf("credential %q: want 5 parts", fields["Credential"])
	}
	if scope[3] != signingService {
		return fmt.Errorf("scope service %q; want %q", scope[3], signingService)
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return err
	}
	req, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Host = r.Host
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h != "host" && h != "content-length" {
			req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	creds := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash(body), scope[3], scope[2], when); err != nil {
		return err
	}
	if got := req.Header.Get("Authorization"); got != auth {
		return fmt.Errorf("signature mismatch:\n got %s\nwant %s", auth, got)
	}
	return nil
}

// fakeCloudMap accepts RegisterInstance, checks every request's signature,
// target and id uniqueness, and counts.
type fakeCloudMap struct {
	t        *testing.T
	wantHost string
	requests atomic.Int64

	mu  sync.Mutex
	ids map[string]bool // guarded by mu: InstanceIds and CreatorRequestIds seen
}

func (f *fakeCloudMap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	body, _ := io.ReadAll(r.Body)
	if err := verifySigV4(r, body, testSecretKey); err != nil {
		f.t.Errorf("request %d: %v", f.requests.Load(), err)
	}
	if got, want := r.Header.Get("X-Amz-Target"), targetPrefix+"RegisterInstance"; got != want {
		f.t.Errorf("X-Amz-Target = %q; want %q", got, want)
	}
	if f.wantHost != "" && r.Host != f.wantHost {
		f.t.Errorf("Host = %q; want %q", r.Host, f.wantHost)
	}
	var in registerInput
	if err := json.Unmarshal(body, &in); err != nil || in.InstanceId == "" || in.Attributes["AWS_INSTANCE_IPV4"] == "" {
		f.t.Errorf("bad RegisterInstance body %s (%v)", body, err)
	}
	f.mu.Lock()
	dup := f.ids["i:"+in.InstanceId] || f.ids["c:"+in.CreatorRequestId]
	f.ids["i:"+in.InstanceId], f.ids["c:"+in.CreatorRequestId] = true, true
	f.mu.Unlock()
	if dup {
		w.Header().Set("X-Amzn-ErrorType", "DuplicateRequest")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"DuplicateRequest","message":"seen"}`)
		return
	}
	w.Header().Set("Content-Type", contentType)
	fmt.Fprint(w, `{"OperationId":"op"}`)
}

func TestRunBounds(t *testing.T) {
	tests := []struct {
		name          string
		cfg           loadConfig
		hostHeader    string
		wantStoppedBy string
		wantRequests  int64 // measured; -1: any
		wantServer    int64 // requests the server saw; -1: any
	}{
		{"count", loadConfig{Concurrency: 4, Count: 300, Duration: time.Minute}, "", "count", 300, 300},
		{"count with warm-up count", loadConfig{Concurrency: 3, Count: 100, Duration: time.Minute, Warmup: warmup{count: 40}}, "", "count", 100, 140},
		{"duration", loadConfig{Concurrency: 2, Duration: 300 * time.Millisecond}, "", "duration", -1, -1},
		{"duration before count", loadConfig{Concurrency: 2, Count: 1 << 40, Duration: 200 * time.Millisecond, Warmup: warmup{duration: 50 * time.Millisecond}}, "", "duration", -1, -1},
		{"host header", loadConfig{Concurrency: 2, Count: 20, Duration: time.Minute}, "data-localhost:4321", "count", 20, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeCloudMap{t: t, wantHost: tc.hostHeader, ids: map[string]bool{}}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			c := newClient(srv.URL+"/", tc.hostHeader, "eu-west-1", testAccessKey, testSecretKey, tc.cfg.Concurrency, 5*time.Second)
			r := &runner{c: c, op: "RegisterInstance", payload: registerPayload("srv-test", 0)}

			start := time.Now()
			res, err := r.run(context.Background(), "register", tc.cfg)
			if err != nil {
				t.Fatalf("run(%+v) error: %v", tc.cfg, err)
			}
			elapsed := time.Since(start)

			if res.StoppedBy != tc.wantStoppedBy {
				t.Errorf("StoppedBy = %q; want %q", res.StoppedBy, tc.wantStoppedBy)
			}
			if tc.wantRequests >= 0 && res.Requests != tc.wantRequests {
				t.Errorf("Requests = %d; want %d", res.Requests, tc.wantRequests)
			}
			if tc.wantServer >= 0 && fake.requests.Load() != tc.wantServer {
				t.Errorf("server saw %d requests; want %d", fake.requests.Load(), tc.wantServer)
			}
			if got := res.WarmupRequests + res.Requests; got != fake.requests.Load() {
				t.Errorf("warm-up %d + measured %d = %d; server saw %d", res.WarmupRequests, res.Requests, got, fake.requests.Load())
			}
			if res.OK != res.Requests || len(res.Errors) != 0 {
				t.Errorf("OK = %d of %d, errors %v; want all OK", res.OK, res.Requests, res.Errors)
			}
			if d := tc.cfg.Duration; tc.wantStoppedBy == "duration" && (res.DurationSec < d.Seconds() || elapsed > d+tc.cfg.Warmup.duration+5*time.Second) {
				t.Errorf("measured %.3fs (run took %v); want about %v", res.DurationSec, elapsed, d)
			}
			if res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 || res.ReqPerSec <= 0 {
				t.Errorf("Latency = %+v, ReqPerSec = %v; want positive and ordered", res.Latency, res.ReqPerSec)
			}
		})
	}
}

func TestRunCountsErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"com.amazonaws.servicediscovery#ServiceNotFound","message":"no"}`)
	}))
	defer srv.Close()
	c := newClient(srv.URL, "", "us-east-1", testAccessKey, testSecretKey, 2, 5*time.Second)
	r := &runner{c: c, op: "DiscoverInstances", payload: fixedPayload([]byte(`{}`))}
	res, err := r.run(context.Background(), "discover", loadConfig{Concurrency: 2, Count: 50, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"400 ServiceNotFound": 50}
	if res.OK != 0 || len(res.Errors) != 1 || res.Errors["400 ServiceNotFound"] != 50 {
		t.Errorf("OK = %d, Errors = %v; want 0, %v", res.OK, res.Errors, want)
	}
}

func TestStubAndDiscoverCheck(t *testing.T) {
	canned := []byte(`{"Instances":[{"InstanceId":"a"},{"InstanceId":"b"},{"InstanceId":"c"}],"InstancesRevision":3}`)
	srv := httptest.NewServer(stubHandler(canned))
	defer srv.Close()
	c := newClient(srv.URL, "", "us-east-1", testAccessKey, testSecretKey, 1, 5*time.Second)
	in := discoverInput{NamespaceName: "ns", ServiceName: "svc", MaxResults: 1000}
	for _, tc := range []struct {
		want    int
		wantErr bool
	}{{3, false}, {-1, false}, {4, true}} {
		_, err := discoverPayload(context.Background(), c, in, tc.want, "")
		if (err != nil) != tc.wantErr {
			t.Errorf("discoverPayload(want %d) error = %v; want error %v", tc.want, err, tc.wantErr)
		}
	}

	p, _ := discoverPayload(context.Background(), c, in, 3, "")
	r := &runner{c: c, op: "DiscoverInstances", payload: p}
	res, err := r.run(context.Background(), "stub", loadConfig{Concurrency: 2, Count: 10, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 10 || res.BytesReceived != 10*int64(len(canned)) {
		t.Errorf("OK = %d, BytesReceived = %d; want 10, %d", res.OK, res.BytesReceived, 10*len(canned))
	}
}

func TestParseAPIError(t *testing.T) {
	tests := []struct {
		header, body string
		want         string
	}{
		{"", `{"__type":"ServiceNotFound","message":"x"}`, "400 ServiceNotFound"},
		{"", `{"__type":"com.amazonaws.servicediscovery#InvalidInput","Message":"x"}`, "400 InvalidInput"},
		{"NamespaceNotFound:http://internal.amazon.com/", `{}`, "400 NamespaceNotFound"},
		{"", `not json`, "400"},
	}
	for _, tc := range tests {
		h := http.Header{}
		if tc.header != "" {
			h.Set("X-Amzn-ErrorType", tc.header)
		}
		if got := parseAPIError(400, h, []byte(tc.body)).key(); got != tc.want {
			t.Errorf("parseAPIError(%q, %q).key() = %q; want %q", tc.header, tc.body, got, tc.want)
		}
	}
}

func BenchmarkNewRequest(b *testing.B) {
	c := newClient("http://127.0.0.1:1/", "", "us-east-1", testAccessKey, testSecretKey, 1, time.Second)
	body := []byte(`{"NamespaceName":"bench","ServiceName":"svc100","MaxResults":1000}`)
	hash := payloadHash(body)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.newRequest(ctx, "DiscoverInstances", body, hash); err != nil {
			b.Fatal(err)
		}
	}
}

func TestVerifySigV4(t *testing.T) {
	c := newClient("http://127.0.0.1:9/", "data-localhost:9", "us-east-1", testAccessKey, testSecretKey, 1, time.Second)
	body := []byte(`{"NamespaceName":"ns","ServiceName":"svc"}`)
	req, err := c.newRequest(context.Background(), "DiscoverInstances", body, payloadHash(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, secret string
		body         []byte
		wantErr      bool
	}{
		{"valid", testSecretKey, body, false},
		{"wrong secret", "other", body, true},
		{"changed body", testSecretKey, []byte(`{}`), true},
	} {
		if err := verifySigV4(req, tc.body, tc.secret); (err != nil) != tc.wantErr {
			t.Errorf("%s: verifySigV4() = %v; want error %v", tc.name, err, tc.wantErr)
		}
	}
}

func TestRegisterPayloadIDs(t *testing.T) {
	for _, tc := range []struct {
		idSpace      int64
		wantDistinct int
	}{{0, 10}, {3, 3}} {
		p := registerPayload("srv-1", tc.idSpace)
		ids, reqs := map[string]bool{}, map[string]bool{}
		for i := range int64(10) {
			body, hash := p(i)
			if hash != payloadHash(body) {
				t.Errorf("registerPayload(%d) hash = %s; want %s", i, hash, payloadHash(body))
			}
			var in registerInput
			if err := json.Unmarshal(body, &in); err != nil {
				t.Fatal(err)
			}
			ids[in.InstanceId], reqs[in.CreatorRequestId] = true, true
		}
		if len(ids) != tc.wantDistinct || len(reqs) != 10 {
			t.Errorf("id-space %d: %d instance ids, %d request ids; want %d, 10", tc.idSpace, len(ids), len(reqs), tc.wantDistinct)
		}
	}
}

// TestVisibility: writes through one server, each read back through
// another that shows it only after a few reads.
func TestVisibility(t *testing.T) {
	var mu sync.Mutex
	pending := map[string]int{} // instance -> reads left before it shows
	writer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in registerInput
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &in); err != nil || r.Header.Get("X-Amz-Target") != targetPrefix+"RegisterInstance" {
			t.Errorf("writer got %s %s", r.Header.Get("X-Amz-Target"), body)
		}
		mu.Lock()
		pending[in.InstanceId] = 3
		mu.Unlock()
		fmt.Fprint(w, `{"OperationId":"op"}`)
	}))
	defer writer.Close()
	reads := 0
	reader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ ServiceId, InstanceId string }
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &in); err != nil || r.Header.Get("X-Amz-Target") != targetPrefix+"GetInstance" || in.ServiceId != "srv-x" {
			t.Errorf("reader got %s %s", r.Header.Get("X-Amz-Target"), body)
		}
		mu.Lock()
		defer mu.Unlock()
		reads++
		left, ok := pending[in.InstanceId]
		if !ok || left > 0 {
			pending[in.InstanceId] = left - 1
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"__type":"InstanceNotFound","message":"no"}`)
			return
		}
		fmt.Fprint(w, `{"Instance":{"Id":"x"}}`)
	}))
	defer reader.Close()
	wc := newClient(writer.URL, "", "us-east-1", testAccessKey, testSecretKey, 1, 5*time.Second)
	rc := newClient(reader.URL, "", "us-east-1", testAccessKey, testSecretKey, 1, 5*time.Second)
	res, err := measureVisibility(context.Background(), wc, rc, "srv-x", 5, time.Millisecond, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes != 5 || reads != 20 || res.Latency.P50 < 3*res.PollMS || res.Latency.Max < res.Latency.P50 {
		t.Errorf("measureVisibility = %+v after %d reads; want 5 writes, 4 reads each, latency at least 3 polls", res, reads)
	}
}
