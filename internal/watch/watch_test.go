package watch_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
)

// wakeBound is how soon after a change is acknowledged a held query must
// answer (issue 14).
const wakeBound = 100 * time.Millisecond

// api is a Cloud Map client for the tests: AWS JSON 1.1 calls, signed
// when creds is set.
type api struct {
	t     testing.TB
	url   string
	creds *aws.Credentials
}

func signedAPI(t testing.TB, url string, creds aws.Credentials) api { return api{t, url, &creds} }

func (a api) call(op string, in any) map[string]any {
	a.t.Helper()
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, a.url+"/", strings.NewReader(string(b)))
	req.Header.Set("X-Amz-Target", "Route53AutoNaming_v20170314."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if a.creds != nil {
		sum := sha256.Sum256(b)
		if err := v4.NewSigner().SignHTTP(context.Background(), *a.creds, req, hex.EncodeToString(sum[:]), "servicediscovery",
			"us-east-1", time.Now()); err != nil {
			a.t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s: %v", op, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		a.t.Fatalf("%s(%s) = %d %s", op, b, resp.StatusCode, body)
	}
	var out map[string]any
	_ = json.Unmarshal(body, &out)
	return out
}

// setup creates namespace ns with service svc (custom health checks) and
// returns the service's ID.
func (a api) setup(ns, svc string) string {
	a.t.Helper()
	op := a.call("CreateHttpNamespace", map[string]any{"Name": ns})
	got := a.call("GetOperation", map[string]any{"OperationId": op["OperationId"]})
	nsID := got["Operation"].(map[string]any)["Targets"].(map[string]any)["NAMESPACE"]
	s := a.call("CreateService", map[string]any{"Name": svc, "NamespaceId": nsID,
		"HealthCheckCustomConfig": map[string]any{}})
	return s["Service"].(map[string]any)["Id"].(string)
}

func (a api) register(svcID, id string, attrs map[string]string) {
	a.t.Helper()
	a.call("RegisterInstance", map[string]any{"ServiceId": svcID, "InstanceId": id, "Attributes": attrs})
}

// answer is one answer of the blocking endpoint.
type answer struct {
	status  int
	index   string
	ids     []string // sorted
	body    string
	took    time.Duration
	arrived time.Time
}

// discover sends GET /_mapmesh/v1/discover with params and waits for the
// answer.
func discover(t testing.TB, base string, params url.Values) answer {
	t.Helper()
	start := time.Now()
	resp, err := http.Get(base + "/_mapmesh/v1/discover?" + params.Encode())
	if err != nil {
		t.Fatalf("discover %v: %v", params, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, index: resp.Header.Get("X-Mapmesh-Index"), body: string(body),
		took: time.Since(start), arrived: time.Now()}
	var out struct {
		Instances []struct{ InstanceId string }
	}
	if json.Unmarshal(body, &out) == nil {
		for _, i := range out.Instances {
			a.ids = append(a.ids, i.InstanceId)
		}
		slices.Sort(a.ids)
	}
	return a
}

// hold starts a query in the background; its answer arrives on the
// channel. It returns once the server holds the query.
func hold(t *testing.T, s *servertest.Server, params url.Values) <-chan answer {
	t.Helper()
	before := gauge(t, s.URL, "mapmesh_discover_watches")
	ch := make(chan answer, 1)
	go func() { ch <- discover(t, s.URL, params) }()
	deadline := time.Now().Add(5 * time.Second)
	for gauge(t, s.URL, "mapmesh_discover_watches") <= before {
		select {
		case a := <-ch:
			t.Fatalf("query %v answered at once (%d %s); want it held", params, a.status, a.body)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %v not held after 5s", params)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return ch
}

// gauge reads one unlabelled metric from /metrics.
func gauge(t testing.TB, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s = %q", name, v)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

func params(ns, svc string, kv ...string) url.Values {
	v := url.Values{"namespace": {ns}, "service": {svc}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// TestWakes: a held query answers within wakeBound of each kind of change
// to its answer, with a new index and the new answer.
func TestWakes(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	a := api{t, s.URL, nil}
	svcID := a.setup("wakes", "web")
	a.register(svcID, "web-1", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "stage": "prod"})
	all := params("wakes", "web", "health", "ALL")

	for _, tc := range []struct {
		name   string
		change func()
		check  func(t *testing.T, got answer)
	}{
		{"register", func() { a.register(svcID, "web-2", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.2"}) },
			func(t *testing.T, got answer) {
				if !slices.Equal(got.ids, []string{"web-1", "web-2"}) {
					t.Errorf("answer has %v; want web-1 and web-2", got.ids)
				}
			}},
		{"attributes", func() {
			a.register(svcID, "web-1", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "stage": "canary"})
		},
			func(t *testing.T, got answer) {
				if !strings.Contains(got.body, `"canary"`) {
					t.Errorf("answer %s; want web-1's new stage", got.body)
				}
			}},
		{"health", func() {
			a.call("UpdateInstanceCustomHealthStatus", map[string]any{"ServiceId": svcID, "InstanceId": "web-2", "Status": "UNHEALTHY"})
		}, func(t *testing.T, got answer) {
			if !strings.Contains(got.body, `"UNHEALTHY"`) {
				t.Errorf("answer %s; want web-2 UNHEALTHY", got.body)
			}
		}},
		{"deregister", func() { a.call("DeregisterInstance", map[string]any{"ServiceId": svcID, "InstanceId": "web-2"}) },
			func(t *testing.T, got answer) {
				if !slices.Equal(got.ids, []string{"web-1"}) {
					t.Errorf("answer has %v; want web-1 alone", got.ids)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := discover(t, s.URL, all)
			if now.status != 200 || now.index == "" {
				t.Fatalf("discover = %d %q index %q", now.status, now.body, now.index)
			}
			p := params("wakes", "web", "health", "ALL", "index", now.index, "wait", "30s")
			held := hold(t, s, p)
			tc.change()
			acked := time.Now()
			select {
			case got := <-held:
				if got.status != 200 || got.index == now.index {
					t.Fatalf("woken answer %d index %q (was %q): %s", got.status, got.index, now.index, got.body)
				}
				if late := got.arrived.Sub(acked); late > wakeBound {
					t.Errorf("answered %v after the change was acknowledged; want within %v", late, wakeBound)
				} else {
					t.Logf("answered %v after the change was acknowledged", late)
				}
				tc.check(t, got)
			case <-time.After(10 * time.Second):
				t.Fatalf("the %s did not wake the held query", tc.name)
			}
		})
	}
}

// TestQuietWait: with nothing changing, a held query answers after its wait
// (jittered by at most a sixteenth) with the same index.
func TestQuietWait(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	a := api{t, s.URL, nil}
	svcID := a.setup("quiet", "web")
	a.register(svcID, "web-1", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1"})
	now := discover(t, s.URL, params("quiet", "web"))
	const wait = time.Second
	got := discover(t, s.URL, params("quiet", "web", "index", now.index, "wait", "1s"))
	if got.status != 200 || got.index != now.index || !slices.Equal(got.ids, []string{"web-1"}) {
		t.Fatalf("quiet wait = %d index %q (want %q) %v", got.status, got.index, now.index, got.ids)
	}
	if got.took < wait || got.took > wait+wait/16+time.Second {
		t.Errorf("quiet wait of %v answered after %v; want between %v and %v plus a second", wait, got.took, wait, wait+wait/16)
	}
	// A stale index answers at once.
	if got := discover(t, s.URL, params("quiet", "web", "index", "1", "wait", "30s")); got.took > 5*time.Second || got.index != now.index {
		t.Errorf("a stale index answered after %v with %q; want at once with %q", got.took, got.index, now.index)
	}
}

// TestFilters: a change that leaves the filtered answer as it was does not
// wake a query; one that alters it does.
func TestFilters(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	a := api{t, s.URL, nil}
	svcID := a.setup("filters", "web")
	a.register(svcID, "web-1", map[string]string{"stage": "prod"})
	a.register(svcID, "web-2", map[string]string{"stage": "canary"})
	a.call("UpdateInstanceCustomHealthStatus", map[string]any{"ServiceId": svcID, "InstanceId": "web-2", "Status": "UNHEALTHY"})

	for _, tc := range []struct {
		name    string
		filter  []string
		quiet   func() // changes outside the filtered answer
		changes func() // a change inside it
	}{
		{"query parameter", []string{"query.stage", "prod"},
			func() {
				a.register(svcID, "web-2", map[string]string{"stage": "canary", "v": "2"})
				a.register(svcID, "web-3", map[string]string{"stage": "canary"})
				a.call("DeregisterInstance", map[string]any{"ServiceId": svcID, "InstanceId": "web-3"})
			},
			func() { a.register(svcID, "web-4", map[string]string{"stage": "prod"}) }},
		{"health", []string{"health", "UNHEALTHY"},
			func() {
				a.call("UpdateInstanceCustomHealthStatus", map[string]any{"ServiceId": svcID, "InstanceId": "web-2", "Status": "UNHEALTHY"})
				a.register(svcID, "web-5", map[string]string{"stage": "prod"}) // healthy
			},
			func() {
				a.call("UpdateInstanceCustomHealthStatus", map[string]any{"ServiceId": svcID, "InstanceId": "web-1", "Status": "UNHEALTHY"})
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := discover(t, s.URL, params("filters", "web", tc.filter...))
			p := params("filters", "web", append(tc.filter, "index", now.index, "wait", "1s")...)
			held := hold(t, s, p)
			tc.quiet()
			got := <-held
			if got.index != now.index || got.took < time.Second {
				t.Fatalf("after changes outside the filter: index %q (was %q) after %v; want the same index after the wait (1s)",
					got.index, now.index, got.took)
			}
			p.Set("wait", "30s")
			held = hold(t, s, p)
			tc.changes()
			acked := time.Now()
			got = <-held
			if got.index == now.index || got.arrived.Sub(acked) > wakeBound {
				t.Fatalf("after a change inside the filter: index %q (was %q) %v after it; want a new index within %v",
					got.index, now.index, got.arrived.Sub(acked), wakeBound)
			}
		})
	}
}

// TestIndexSurvivesRestart: after a restart the same answer has the same
// index (a client holding it waits), an older index answers at once, and a
// change made after the restart (even one that puts back an instance as it
// was) gives a new index: never a false "unchanged".
func TestIndexSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := servertest.Start(t, server.Config{DataDir: dir})
	a := api{t, s.URL, nil}
	svcID := a.setup("restart", "web")
	a.register(svcID, "web-1", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1"})
	first := discover(t, s.URL, params("restart", "web"))
	a.register(svcID, "web-2", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.2"})
	second := discover(t, s.URL, params("restart", "web"))
	s.Stop(t)

	s = servertest.Start(t, server.Config{DataDir: dir})
	a = api{t, s.URL, nil}
	if got := discover(t, s.URL, params("restart", "web")); got.index != second.index {
		t.Fatalf("after a restart the same answer has index %q; want %q as before", got.index, second.index)
	}
	if got := discover(t, s.URL, params("restart", "web", "index", first.index, "wait", "30s")); got.took > 5*time.Second || got.index != second.index {
		t.Errorf("an index from before the last change answered after %v with %q; want at once with %q", got.took, got.index, second.index)
	}
	held := hold(t, s, params("restart", "web", "index", second.index, "wait", "30s"))
	a.call("DeregisterInstance", map[string]any{"ServiceId": svcID, "InstanceId": "web-2"})
	if got := <-held; got.index != first.index {
		t.Errorf("with web-1 alone again the index is %q; want %q, as when web-1 was alone before", got.index, first.index)
	}
	a.register(svcID, "web-2", map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.2"})
	if got := discover(t, s.URL, params("restart", "web")); got.index == second.index || got.index == first.index {
		t.Errorf("after web-2 went and came back the index is %q (before: %q, %q); want a new one", got.index, first.index, second.index)
	}
}

// TestShutdownAnswersHeld: stopping the server answers held queries at
// once (with the current answer) instead of holding the shutdown.
func TestShutdownAnswersHeld(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	a := api{t, s.URL, nil}
	svcID := a.setup("shutdown", "web")
	a.register(svcID, "web-1", map[string]string{"k": "v"})
	now := discover(t, s.URL, params("shutdown", "web"))
	held := hold(t, s, params("shutdown", "web", "index", now.index, "wait", "5m"))
	start := time.Now()
	s.Stop(t)
	select {
	case got := <-held:
		if got.status != 200 || got.index != now.index {
			t.Errorf("held query at shutdown = %d index %q: %s; want 200 with %q", got.status, got.index, got.body, now.index)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a held query was not answered at shutdown")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutdown with a held query took %v", took)
	}
}

// TestErrors: bad requests get Cloud Map's errors, in the AWS JSON 1.1
// shape.
func TestErrors(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	a := api{t, s.URL, nil}
	a.setup("errors", "web")
	for _, tc := range []struct {
		params url.Values
		status int
		code   string
	}{
		{url.Values{"namespace": {"errors"}}, 400, "InvalidInput"},
		{params("nope", "web"), 400, "NamespaceNotFound"},
		{params("errors", "nope"), 400, "ServiceNotFound"},
		{params("errors", "web", "wait", "soon"), 400, "InvalidInput"},
		{params("errors", "web", "max", "-1"), 400, "InvalidInput"},
		{params("errors", "web", "health", "SOMETIMES"), 400, "InvalidInput"},
	} {
		got := discover(t, s.URL, tc.params)
		var body struct {
			Type string `json:"__type"`
		}
		_ = json.Unmarshal([]byte(got.body), &body)
		if got.status != tc.status || !strings.HasSuffix(body.Type, tc.code) {
			t.Errorf("discover %v = %d %s; want %d %s", tc.params, got.status, got.body, tc.status, tc.code)
		}
	}
}

// TestFollowSnippet runs the README's Go snippet against a server with
// SigV4 on: it sees the service as it is, then each change; unsigned
// queries are refused.
func TestFollowSnippet(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "credentials")
	const key, secret = "AKIDWATCHTEST0000001", "watch-secret"
	if err := os.WriteFile(creds, fmt.Appendf(nil, "[w]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_account_id = 111122223333\n", key, secret), 0o600); err != nil {
		t.Fatal(err)
	}
	s := servertest.Start(t, server.Config{CredentialsFile: creds})
	if got := discover(t, s.URL, params("follow", "web")); got.status != 403 {
		t.Fatalf("unsigned query = %d %s; want 403", got.status, got.body)
	}
	signed := signedAPI(t, s.URL, aws.Credentials{AccessKeyID: key, SecretAccessKey: secret})
	svcID := signed.setup("follow", "web")
	signed.register(svcID, "web-1", map[string]string{"k": "v"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan []string, 10)
	done := make(chan error, 1)
	go func() {
		done <- follow(ctx, s.URL, aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, "us-east-1", "follow", "web",
			func(is []instance) {
				var ids []string
				for _, i := range is {
					ids = append(ids, i.InstanceId)
				}
				slices.Sort(ids)
				seen <- ids
			})
	}()
	next := func(want ...string) {
		t.Helper()
		select {
		case got := <-seen:
			if !slices.Equal(got, want) {
				t.Fatalf("follow saw %v; want %v", got, want)
			}
		case err := <-done:
			t.Fatalf("follow ended: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("follow did not see %v", want)
		}
	}
	next("web-1")
	signed.register(svcID, "web-2", map[string]string{"k": "v"})
	next("web-1", "web-2")
	signed.call("DeregisterInstance", map[string]any{"ServiceId": svcID, "InstanceId": "web-1"})
	next("web-2")
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("follow ended with %v; want context.Canceled", err)
	}
}

// TestCurlSigV4: curl's --aws-sigv4 signs a blocking query that a server
// with SigV4 on accepts (the README's curl examples).
func TestCurlSigV4(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skipf("curl is not on PATH: %v", err)
	}
	creds := filepath.Join(t.TempDir(), "credentials")
	const key, secret = "AKIDWATCHCURL0000001", "curl-secret"
	if err := os.WriteFile(creds, fmt.Appendf(nil, "[c]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_account_id = 111122223333\n", key, secret), 0o600); err != nil {
		t.Fatal(err)
	}
	s := servertest.Start(t, server.Config{CredentialsFile: creds})
	signed := signedAPI(t, s.URL, aws.Credentials{AccessKeyID: key, SecretAccessKey: secret})
	svcID := signed.setup("curl", "web")
	signed.register(svcID, "web-1", map[string]string{"k": "v"})
	for _, tc := range []struct {
		secret, want string
	}{{secret, "200 web-1"}, {"wrong", "403"}} {
		out, err := exec.Command("curl", "-sS", "--aws-sigv4", "aws:amz:us-east-1:servicediscovery", "--user", key+":"+tc.secret,
			"-w", "\n%{http_code} ", s.URL+"/_mapmesh/v1/discover?namespace=curl&service=web").CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v: %s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		got := strings.TrimSpace(lines[len(lines)-1])
		if strings.Contains(string(out), `"InstanceId":"web-1"`) {
			got += " web-1"
		}
		if got != tc.want {
			t.Errorf("curl --aws-sigv4 with secret %q: %q; want %q (output %s)", tc.secret, got, tc.want, out)
		}
	}
}

// TestReadmeSnippet: the README's Go snippet is the code TestFollowSnippet
// runs.
func TestReadmeSnippet(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## Blocking discovery")
	if !ok {
		t.Fatal(`README.md has no "## Blocking discovery" section`)
	}
	_, rest, ok = strings.Cut(rest, "```go\n")
	snippet, _, ok2 := strings.Cut(rest, "```\n")
	if !ok || !ok2 {
		t.Fatal("README.md's blocking discovery section has no Go snippet")
	}
	code, err := os.ReadFile("client_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(code), snippet) {
		t.Error("README.md's Go snippet differs from client_example_test.go's code; keep them the same")
	}
}
