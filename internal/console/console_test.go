package console

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	amsdk "github.com/aws/aws-sdk-go-v2/service/appmesh"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

// Identities of the sigv4 environments.
const (
	keyOne, secretOne, accountOne = "AKIDONE", "secret-one", "111111111111"
	keyTwo, secretTwo, accountTwo = "AKIDTWO", "secret-two", "222222222222"
)

const credentialsFile = `
[one]
aws_access_key_id = AKIDONE
aws_secret_access_key = secret-one
aws_account_id = 111111111111

[two]
aws_access_key_id = AKIDTWO
aws_secret_access_key = secret-two
aws_account_id = 222222222222
`

// env is a console on real Cloud Map and App Mesh backends (bbolt in
// t.TempDir()), served with both AWS APIs on one awsapi.Mux, as the server
// does.
type env struct {
	t       *testing.T
	cm      *cloudmap.Backend
	am      *appmesh.Backend
	console *Console
	srv     *httptest.Server
	sigv4   bool
}

// newEnv starts an environment; sigv4 verifies signatures with the
// identities of credentialsFile. cfg's CloudMap and AppMesh are set here.
func newEnv(t *testing.T, sigv4 bool, cfg Config) *env {
	t.Helper()
	ctx := context.Background()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "m.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cm, err := cloudmap.New(ctx, st, cloudmap.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cm.Close() })
	am, err := appmesh.New(ctx, st, appmesh.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { am.Close() })
	var verifier *awsapi.Verifier
	if sigv4 {
		keys, err := awsapi.ParseCredentials(strings.NewReader(credentialsFile))
		if err != nil {
			t.Fatal(err)
		}
		verifier = awsapi.NewVerifier(keys)
	}
	mux := awsapi.NewMux(awsapi.MuxConfig{DefaultRegion: "us-east-1", Auth: verifier})
	mux.HandleJSON(cm.API())
	for _, s := range am.API() {
		mux.HandleREST(s)
	}
	cfg.CloudMap, cfg.AppMesh = cm, am
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := New(cfg)
	c.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(c.Close) // before srv.Close: open streams end
	return &env{t: t, cm: cm, am: am, console: c, srv: srv, sigv4: sigv4}
}

// identity is who a request is from: a signer of an environment's
// credentials, or, without authentication, an access key that chooses the
// account.
type identity struct {
	key, secret, region string
}

var (
	anonymous = identity{region: "us-east-1"}
	one       = identity{keyOne, secretOne, "us-east-1"}
	two       = identity{keyTwo, secretTwo, "us-east-1"}
)

// sd returns a Cloud Map client acting as id.
func (e *env) sd(id identity) *sd.Client {
	key, secret := cmp.Or(id.key, "test"), cmp.Or(id.secret, "test")
	return sd.New(sd.Options{Region: id.region, BaseEndpoint: aws.String(e.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")})
}

// appMesh returns an App Mesh client acting as id.
func (e *env) appMesh(id identity) *amsdk.Client {
	key, secret := cmp.Or(id.key, "test"), cmp.Or(id.secret, "test")
	return amsdk.New(amsdk.Options{Region: id.region, BaseEndpoint: aws.String(e.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")})
}

// request returns a GET of the console API path (with its query), signed
// as id when id has a secret.
func (e *env) request(id identity, path string) *http.Request {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if id.secret != "" {
		sum := sha256.Sum256(nil)
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id.key, SecretAccessKey: id.secret},
			req, hex.EncodeToString(sum[:]), "mapmesh", id.region, time.Now())
		if err != nil {
			e.t.Fatal(err)
		}
	}
	return req
}

// get makes a console API call and returns its status and body.
func (e *env) get(id identity, path string) (int, []byte) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(e.request(id, path))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// sync waits until both views reflect every write made so far: the
// console reads them as they are, and the App Mesh API does not wait for
// its view before answering.
func (e *env) sync() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	check(e.t, e.cm.Check(ctx))
	check(e.t, e.am.Check(ctx))
}

// getJSON makes a console API call that must succeed and decodes its body.
func (e *env) getJSON(id identity, path string, dst any) {
	e.t.Helper()
	e.sync()
	code, b := e.get(id, path)
	if code != http.StatusOK {
		e.t.Fatalf("GET %s = %d %s; want 200", path, code, b)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		e.t.Fatalf("GET %s: %v in %s", path, err, b)
	}
}

// check fails the test on an error of a setup call.
func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// namespace creates an HTTP namespace as id and returns its ID.
func (e *env) namespace(id identity, name string) string {
	e.t.Helper()
	ctx := context.Background()
	c := e.sd(id)
	op, err := c.CreateHttpNamespace(ctx, &sd.CreateHttpNamespaceInput{Name: aws.String(name)})
	check(e.t, err)
	got, err := c.GetOperation(ctx, &sd.GetOperationInput{OperationId: op.OperationId})
	check(e.t, err)
	return got.Operation.Targets["NAMESPACE"]
}

// sseEvent is one server-sent event, and when it was read; a comment
// has Name ":".
type sseEvent struct {
	Name, Data string
	At         time.Time
}

// openEvents opens an events stream with req and delivers its events on
// the returned channel, closed when the stream ends. The stream is closed
// when the test ends.
func openEvents(t *testing.T, req *http.Request) (<-chan sseEvent, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(req.Context())
	t.Cleanup(cancel)
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan sseEvent, 64)
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		close(out)
		return out, resp
	}
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Name != "" || ev.Data != "" {
					ev.At = time.Now()
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				out <- sseEvent{Name: ":", Data: strings.TrimSpace(line[1:]), At: time.Now()}
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.Data = line[len("data: "):]
			}
		}
	}()
	return out, resp
}

// next returns the next event of a name (skipping others) within d.
func next(t *testing.T, events <-chan sseEvent, name string, d time.Duration) (sseEvent, bool) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return sseEvent{}, false
			}
			if ev.Name == name {
				return ev, true
			}
		case <-timeout:
			return sseEvent{}, false
		}
	}
}

// TestAccounts: without authentication every account and region with
// data is listed, and the caller's own; with sigv4 only the caller's
// account.
func TestAccounts(t *testing.T) {
	type accounts struct {
		Auth     string
		Caller   struct{ Account, Region, AccessKey string }
		XDS      bool
		Accounts []struct {
			Account string
			Regions []string
		}
	}
	t.Run("none", func(t *testing.T) {
		e := newEnv(t, false, Config{})
		e.namespace(anonymous, "a.local")
		e.namespace(identity{key: "333333333333", region: "eu-west-1"}, "b.local")
		_, err := e.appMesh(identity{key: "444444444444", region: "ap-south-1"}).CreateMesh(context.Background(),
			&amsdk.CreateMeshInput{MeshName: aws.String("m")})
		check(t, err)
		var got accounts
		e.getJSON(anonymous, "/console/api/accounts", &got)
		want := "123456789012:[us-east-1] 333333333333:[eu-west-1] 444444444444:[ap-south-1]"
		var list []string
		for _, a := range got.Accounts {
			list = append(list, a.Account+":"+"["+strings.Join(a.Regions, " ")+"]")
		}
		if got.Auth != "none" || strings.Join(list, " ") != want || got.Caller.Account != awsapi.DefaultAccount || got.XDS {
			t.Errorf("accounts = %+v; want auth none, caller %s, accounts %s, no xDS", got, awsapi.DefaultAccount, want)
		}
	})
	t.Run("sigv4", func(t *testing.T) {
		e := newEnv(t, true, Config{})
		e.namespace(one, "one.local")
		e.namespace(identity{keyOne, secretOne, "eu-west-1"}, "one-eu.local")
		e.namespace(two, "two.local")
		var got accounts
		e.getJSON(identity{keyOne, secretOne, "eu-central-1"}, "/console/api/accounts", &got)
		if got.Auth != "sigv4" || got.Caller.Account != accountOne || got.Caller.Region != "eu-central-1" || got.Caller.AccessKey != keyOne ||
			len(got.Accounts) != 1 || got.Accounts[0].Account != accountOne ||
			strings.Join(got.Accounts[0].Regions, " ") != "eu-central-1 eu-west-1 us-east-1" {
			t.Errorf("accounts as %s = %+v; want only %s in eu-central-1 eu-west-1 us-east-1", keyOne, got, accountOne)
		}
	})
}

// TestSigV4: with authentication, every console API call must be signed
// by a known identity, shows that identity's account only, and refuses
// another; the assets stay open.
func TestSigV4(t *testing.T) {
	e := newEnv(t, true, Config{})
	e.namespace(one, "one.local")
	e.namespace(two, "two.local")
	for _, tc := range []struct {
		name     string
		id       identity
		path     string
		status   int
		code     string
		contains string
	}{
		{"unsigned", anonymous, "/console/api/namespaces", 403, "MissingAuthenticationTokenException", ""},
		{"unsigned events", anonymous, "/console/api/events", 403, "MissingAuthenticationTokenException", ""},
		{"wrong secret", identity{keyOne, "wrong", "us-east-1"}, "/console/api/namespaces", 403, "InvalidSignatureException", ""},
		{"unknown key", identity{"AKIDNOBODY", "x", "us-east-1"}, "/console/api/accounts", 403, "UnrecognizedClientException", ""},
		{"other account", one, "/console/api/namespaces?account=" + accountTwo, 403, "AccessDeniedException", ""},
		{"own account", one, "/console/api/namespaces?account=" + accountOne, 200, "", "one.local"},
		{"default account", two, "/console/api/namespaces", 200, "", "two.local"},
		{"assets unsigned", anonymous, "/console/", 200, "", "<title>mapmesh console</title>"},
		{"module unsigned", anonymous, "/console/sigv4.js", 200, "", "AWS4-HMAC-SHA256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(e.request(tc.id, tc.path))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code := resp.Header.Get("X-Amzn-Errortype")
			var body struct{ Code string }
			if json.Unmarshal(b, &body) == nil && body.Code != "" {
				code = body.Code
			}
			if resp.StatusCode != tc.status || code != tc.code || !strings.Contains(string(b), tc.contains) {
				t.Errorf("GET %s as %q = %d %s %.200s; want %d %s containing %q", tc.path, tc.id.key, resp.StatusCode, code, b,
					tc.status, tc.code, tc.contains)
			}
			if tc.name == "own account" && strings.Contains(string(b), "two.local") {
				t.Errorf("GET %s as %s shows another account's namespace: %s", tc.path, keyOne, b)
			}
		})
	}
}

// TestAssets: the page and its modules are served from the binary under
// /console/ with a policy that allows nothing from elsewhere; /console
// redirects; an unknown API path is a JSON 404.
func TestAssets(t *testing.T) {
	e := newEnv(t, false, Config{})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path, contentType string
		status            int
		header, value     string
	}{
		{"/console/", "text/html; charset=utf-8", 200, "Content-Security-Policy", "default-src 'self'"},
		{"/console/app.js", "text/javascript; charset=utf-8", 200, "X-Content-Type-Options", "nosniff"},
		{"/console/style.css", "text/css; charset=utf-8", 200, "", ""},
		{"/console", "", http.StatusMovedPermanently, "Location", "/console/"},
		{"/console/api/nothing", "application/json", 404, "", ""},
		{"/console/nothing.js", "", 404, "", ""},
	} {
		resp, err := client.Get(e.srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || tc.contentType != "" && resp.Header.Get("Content-Type") != tc.contentType ||
			tc.header != "" && !strings.Contains(resp.Header.Get(tc.header), tc.value) {
			t.Errorf("GET %s = %d %q %s: %q; want %d %q with %s containing %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"),
				tc.header, resp.Header.Get(tc.header), tc.status, tc.contentType, tc.header, tc.value)
		}
	}
}

// TestScope: ?account= and ?region= choose what is read, and are checked.
func TestScope(t *testing.T) {
	e := newEnv(t, false, Config{})
	e.namespace(identity{key: "333333333333", region: "eu-west-1"}, "b.local")
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/console/api/namespaces?account=333333333333&region=eu-west-1", 200, "b.local"},
		{"/console/api/namespaces", 200, `{"namespaces":[]}`},
		{"/console/api/namespaces?account=12", 400, "InvalidParameter"},
		{"/console/api/namespaces?region=Mars", 400, "InvalidParameter"},
		{"/console/api/namespaces/ns-nothing", 404, "NotFound"},
		{"/console/api/services/srv-nothing", 404, "NotFound"},
		{"/console/api/meshes/nothing", 404, "NotFound"},
		{"/console/api/meshes/nothing/graph", 404, "NotFound"},
	} {
		code, b := e.get(anonymous, tc.path)
		if code != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("GET %s = %d %s; want %d containing %s", tc.path, code, b, tc.status, tc.want)
		}
	}
}
