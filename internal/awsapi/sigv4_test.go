package awsapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const testCredentials = `
# two teams
[team-a]
aws_access_key_id = AKIDTEAMA
aws_secret_access_key = secret-a
aws_account_id = 111111111111

[team-b]
aws_access_key_id=AKIDTEAMB
aws_secret_access_key=secret-b
aws_account_id=222222222222
region = eu-west-1
`

func testKeyring(t testing.TB) *Keyring {
	t.Helper()
	k, err := ParseCredentials(strings.NewReader(testCredentials))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseCredentials(t *testing.T) {
	k := testKeyring(t)
	if id, ok := k.Lookup("AKIDTEAMB"); !ok || id.Account != "222222222222" || id.SecretAccessKey != "secret-b" || id.Name != "team-b" {
		t.Errorf("Lookup(AKIDTEAMB) = %+v, %v; want team-b's identity", id, ok)
	}
	if _, ok := k.Lookup("AKIDOTHER"); ok {
		t.Error("Lookup(AKIDOTHER) found an identity")
	}
	for name, bad := range map[string]string{
		"no account":      "[x]\naws_access_key_id=A\naws_secret_access_key=s\n",
		"short account":   "[x]\naws_access_key_id=A\naws_secret_access_key=s\naws_account_id=123\n",
		"no secret":       "[x]\naws_access_key_id=A\naws_account_id=111111111111\n",
		"duplicate key":   "[x]\naws_access_key_id=A\naws_secret_access_key=s\naws_account_id=111111111111\n[y]\naws_access_key_id=A\naws_secret_access_key=t\naws_account_id=222222222222\n",
		"outside section": "aws_access_key_id=A\n",
		"not key=value":   "[x]\nnonsense\n",
		"empty":           "# nothing\n",
	} {
		if _, err := ParseCredentials(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseCredentials(%s) = nil error; want one", name)
		}
	}
}

var signTime = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// signed returns a request signed by aws-sdk-go-v2's signer, as the SDKs
// send it.
func signed(t testing.TB, method, target, body, akid, secret, service, region string, at time.Time) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "Route53AutoNaming_v20170314.ListNamespaces")
	r.Header.Set("User-Agent", "test/1.0") // not signed
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, r,
		hex.EncodeToString(sum[:]), service, region, at); err != nil {
		t.Fatal(err)
	}
	return r
}

func testVerifier(t testing.TB, now time.Time) *Verifier {
	v := NewVerifier(testKeyring(t))
	v.Now = func() time.Time { return now }
	return v
}

func TestVerify(t *testing.T) {
	body := `{"MaxResults":10}`
	for _, tc := range []struct {
		name     string
		req      func() *http.Request
		now      time.Time
		want     AuthFailure // 0: verified
		account  string
		inMesage string
	}{
		{name: "good", req: func() *http.Request {
			return signed(t, "POST", "http://127.0.0.1:9711/", body, "AKIDTEAMA", "secret-a", "servicediscovery", "us-east-1", signTime)
		}, account: "111111111111"},
		{name: "data- host prefix", req: func() *http.Request {
			return signed(t, "POST", "http://data-127.0.0.1:9711/", body, "AKIDTEAMB", "secret-b", "servicediscovery", "eu-west-1", signTime)
		}, account: "222222222222"},
		{name: "rest-json path and query", req: func() *http.Request {
			return signed(t, "GET", "http://localhost:9711/v20190125/meshes/a%20b/virtualNodes?limit=5&nextToken=x%2By", "", "AKIDTEAMA", "secret-a", "appmesh", "us-east-1", signTime)
		}, account: "111111111111"},
		{name: "clock skew 14 min", now: signTime.Add(14 * time.Minute), req: func() *http.Request {
			return signed(t, "POST", "http://127.0.0.1:9711/", body, "AKIDTEAMA", "secret-a", "servicediscovery", "us-east-1", signTime)
		}, account: "111111111111"},
		{name: "expired", now: signTime.Add(16 * time.Minute), want: AuthInvalid, inMesage: "Signature expired", req: func() *http.Request {
			return signed(t, "POST", "http://127.0.0.1:9711/", body, "AKIDTEAMA", "secret-a", "servicediscovery", "us-east-1", signTime)
		}},
		{name: "from the future", now: signTime.Add(-16 * time.Minute), want: AuthInvalid, inMesage: "not yet current", req: func() *http.Request {
			return signed(t, "POST", "http://127.0.0.1:9711/", body, "AKIDTEAMA", "secret-a", "servicediscovery", "us-east-1", signTime)
		}},
		{name: "wrong secret", want: AuthInvalid, inMesage: "does not match", req: func() *http.Request {
			return signed(t, "POST", "http://127.0.0.1:9711/", body, "AKIDTEAMA", "secret-b", "servicediscovery", "us-east-1", signTime)
		}},
		{name: "unknown key", want: AuthUnknownKey, inMesage: "security token included in the request is invalid", req: func() *http.Request {
			return signed(t, "POST", "http://127.0.0.1:9711/", body, "AKIDNOBODY", "x", "servicediscovery", "us-east-1", signTime)
		}},
		{name: "wrong service", want: AuthInvalid, inMesage: "correct service", req: func() *http.Request {
			return signed(t, "POST", "http://127.0.0.1:9711/", body, "AKIDTEAMA", "secret-a", "appmesh", "us-east-1", signTime)
		}},
		{name: "bad region", want: AuthInvalid, inMesage: "valid region", req: func() *http.Request {
			return signed(t, "POST", "http://127.0.0.1:9711/", body, "AKIDTEAMA", "secret-a", "servicediscovery", strings.Repeat("x", 40000), signTime)
		}},
		{name: "body changed", want: AuthInvalid, inMesage: "does not match", req: func() *http.Request {
			r := signed(t, "POST", "http://127.0.0.1:9711/", body, "AKIDTEAMA", "secret-a", "servicediscovery", "us-east-1", signTime)
			r.Body = nopCloser{strings.NewReader(`{"MaxResults":11}`)}
			return r
		}},
		{name: "signed header changed", want: AuthInvalid, inMesage: "does not match", req: func() *http.Request {
			r := signed(t, "POST", "http://127.0.0.1:9711/", body, "AKIDTEAMA", "secret-a", "servicediscovery", "us-east-1", signTime)
			r.Header.Set("X-Amz-Target", "Route53AutoNaming_v20170314.DeleteNamespace")
			return r
		}},
		{name: "unsigned header added", req: func() *http.Request {
			r := signed(t, "POST", "http://127.0.0.1:9711/", body, "AKIDTEAMA", "secret-a", "servicediscovery", "us-east-1", signTime)
			r.Header.Set("X-Forwarded-For", "10.0.0.1")
			return r
		}, account: "111111111111"},
		{name: "no signature", want: AuthMissing, inMesage: "Missing Authentication Token", req: func() *http.Request {
			return httptest.NewRequest("POST", "http://127.0.0.1:9711/", strings.NewReader(body))
		}},
		{name: "no Signature part", want: AuthIncomplete, inMesage: "'Signature'", req: func() *http.Request {
			r := signed(t, "POST", "http://127.0.0.1:9711/", body, "AKIDTEAMA", "secret-a", "servicediscovery", "us-east-1", signTime)
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
			return r
		}},
		{name: "no date", want: AuthIncomplete, inMesage: "X-Amz-Date", req: func() *http.Request {
			r := signed(t, "POST", "http://127.0.0.1:9711/", body, "AKIDTEAMA", "secret-a", "servicediscovery", "us-east-1", signTime)
			r.Header.Del("X-Amz-Date")
			return r
		}},
		{name: "other algorithm", want: AuthIncomplete, req: func() *http.Request {
			r := httptest.NewRequest("POST", "http://127.0.0.1:9711/", strings.NewReader(body))
			r.Header.Set("Authorization", "AWS AKIDTEAMA:abc")
			return r
		}},
		{name: "short credential", want: AuthIncomplete, inMesage: "5 slash-delimited", req: func() *http.Request {
			r := httptest.NewRequest("POST", "http://127.0.0.1:9711/", strings.NewReader(body))
			r.Header.Set("X-Amz-Date", "20261202T100000Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDTEAMA/20261202/us-east-1, SignedHeaders=host, Signature=00")
			return r
		}},
		{name: "scope date not the request's", want: AuthInvalid, inMesage: "valid date", req: func() *http.Request {
			r := signed(t, "POST", "http://127.0.0.1:9711/", body, "AKIDTEAMA", "secret-a", "servicediscovery", "us-east-1", signTime)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20261202/", "/20261201/", 1))
			return r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = signTime
			}
			v := testVerifier(t, now)
			r := tc.req()
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(r.Body)
			service := "servicediscovery"
			if strings.Contains(r.URL.Path, "v20190125") {
				service = "appmesh"
			}
			id, _, aerr := v.Verify(r, buf.Bytes(), service)
			switch {
			case tc.want == 0 && aerr != nil:
				t.Fatalf("Verify = %v; want verified", aerr)
			case tc.want == 0 && id.Account != tc.account:
				t.Fatalf("Verify account = %s; want %s", id.Account, tc.account)
			case tc.want != 0 && (aerr == nil || aerr.Kind != tc.want):
				t.Fatalf("Verify = %v; want %s", aerr, tc.want.Code())
			case tc.want != 0 && !strings.Contains(aerr.Message, tc.inMesage):
				t.Errorf("Verify message = %q; want it to contain %q", aerr.Message, tc.inMesage)
			}
			if aerr != nil && len(aerr.Message) > 1024 {
				t.Errorf("Verify message is %d bytes; want it bounded", len(aerr.Message))
			}
		})
	}
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

// TestVerifyPresigned: a query-string signature (curl, presigned URLs).
func TestVerifyPresigned(t *testing.T) {
	r := httptest.NewRequest("GET", "http://127.0.0.1:9711/v20190125/meshes?limit=3", nil)
	r.URL.RawQuery = "limit=3&X-Amz-Expires=300"
	sum := sha256.Sum256(nil)
	uri, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDTEAMA", SecretAccessKey: "secret-a"}, r,
		hex.EncodeToString(sum[:]), "appmesh", "us-east-1", signTime)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", uri, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	id, region, aerr := testVerifier(t, signTime.Add(time.Minute)).Verify(req, nil, "appmesh")
	if aerr != nil || id.Account != "111111111111" || region != "us-east-1" {
		t.Fatalf("Verify(presigned) = %+v, %s, %v; want team-a in us-east-1", id, region, aerr)
	}
	if _, _, aerr := testVerifier(t, signTime.Add(6*time.Minute)).Verify(req, nil, "appmesh"); aerr == nil || !strings.Contains(aerr.Message, "expired") {
		t.Fatalf("Verify(presigned, after X-Amz-Expires) = %v; want expired", aerr)
	}
	bad := httptest.NewRequest("GET", strings.Replace(uri, "limit=3", "limit=4", 1), nil)
	if _, _, aerr := testVerifier(t, signTime).Verify(bad, nil, "appmesh"); aerr == nil || aerr.Kind != AuthInvalid {
		t.Fatalf("Verify(presigned, query changed) = %v; want InvalidSignature", aerr)
	}
}

func TestValidRegion(t *testing.T) {
	for _, r := range []string{"us-east-1", "us-gov-west-1", "cn-northwest-1", "eu-isoe-west-1", "ap-southeast-7", "mx-central-1", "il-central-1"} {
		if !validRegion(r) {
			t.Errorf("validRegion(%q) = false; want true", r)
		}
	}
	for _, r := range []string{"", "local", "us-east", "US-EAST-1", "us-east-1a", "us--east-1", strings.Repeat("a-", 20) + "1", "us-east-1/x"} {
		if validRegion(r) {
			t.Errorf("validRegion(%q) = true; want false", r)
		}
	}
}

// BenchmarkVerify measures the cost of a verification (derived keys cached).
func BenchmarkVerify(b *testing.B) {
	body := `{"NamespaceName":"demo","ServiceName":"web"}`
	r := signed(b, "POST", "http://127.0.0.1:9711/", body, "AKIDTEAMA", "secret-a", "servicediscovery", "us-east-1", signTime)
	v := testVerifier(b, signTime)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, aerr := v.Verify(r, []byte(body), "servicediscovery"); aerr != nil {
			b.Fatal(aerr)
		}
	}
}

// FuzzSigV4 feeds arbitrary Authorization headers, dates and query strings
// to the verifier: it must refuse them without panicking, and never accept
// a signature made without the secret.
func FuzzSigV4(f *testing.F) {
	good := signed(f, "POST", "http://127.0.0.1:9711/", "{}", "AKIDTEAMA", "secret-a", "servicediscovery", "us-east-1", signTime)
	f.Add(good.Header.Get("Authorization"), good.Header.Get("X-Amz-Date"), "", "{}")
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDTEAMA/20261202/us-east-1/servicediscovery/aws4_request, SignedHeaders=host, Signature=00", "20261202T100000Z", "", "")
	f.Add("", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDTEAMA%2F20261202%2Fus-east-1%2Fappmesh%2Faws4_request&X-Amz-Date=20261202T100000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00", "")
	f.Add("AWS4-HMAC-SHA256 ,,,,=", "2026", "X-Amz-Expires=-1&X-Amz-Signature=", "x")
	v := testVerifier(f, signTime)
	f.Fuzz(func(t *testing.T, auth, date, query, body string) {
		r := httptest.NewRequest("POST", "http://127.0.0.1:9711/", strings.NewReader(body))
		r.URL.RawQuery = query
		if auth != "" {
			r.Header["Authorization"] = []string{auth}
		}
		if date != "" {
			r.Header["X-Amz-Date"] = []string{date}
		}
		id, _, aerr := v.Verify(r, []byte(body), "servicediscovery")
		if aerr == nil && auth != good.Header.Get("Authorization") {
			t.Fatalf("Verify accepted %q / %q / %q as %+v", auth, date, query, id)
		}
	})
}

// FuzzSigV4AgreesWithSDK: whatever path, query, header value and body a
// client sends, a request aws-sdk-go-v2's signer signed verifies once it
// has crossed the wire, and the same request with the body changed does
// not. This checks the verifier's canonical request against the SDK's.
func FuzzSigV4AgreesWithSDK(f *testing.F) {
	f.Add("GET", "v20190125/meshes/a b/virtualNodes", "limit", "5", "x-amz-target", "Op", "")
	f.Add("POST", "", "", "", "content-type", "application/x-amz-json-1.1", `{"Name":"x"}`)
	f.Add("PUT", "meshes/%2F/~x", "nextToken", "a/b+c=d&e", "x-custom", "  two   spaces  ", "{}")
	f.Add("DELETE", "ü/%", "a b", "ü", "x-amz-meta", "ü", "\x00")
	v := testVerifier(f, signTime)
	f.Fuzz(func(t *testing.T, method, path, qk, qv, hk, hv, body string) {
		switch method {
		case "GET", "POST", "PUT", "DELETE", "PATCH":
		default:
			return
		}
		hk = strings.ToLower(hk)
		if !validHeaderName(hk) || strings.ContainsAny(hv, "\r\n\x00\x7f") || strings.TrimSpace(hv) == "" || hk == "content-length" ||
			hk == "host" || hk == "authorization" || hk == "user-agent" || hk == "x-amz-date" || hk == "transfer-encoding" || hk == "expect" ||
			hk == "connection" || hk == "x-amzn-trace-id" {
			hk = "x-amz-target"
			hv = "Op"
		}
		u := &url.URL{Scheme: "http", Host: "127.0.0.1:9711", Path: "/" + path}
		if qk != "" {
			u.RawQuery = url.Values{qk: {qv}}.Encode()
		}
		r, err := http.NewRequest(method, u.String(), strings.NewReader(body))
		if err != nil {
			return
		}
		r.Header.Set(hk, hv)
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDTEAMA", SecretAccessKey: "secret-a"}, r,
			hex.EncodeToString(sum[:]), "appmesh", "us-east-1", signTime); err != nil {
			t.Skip(err)
		}
		var wire bytes.Buffer
		if err := r.Write(&wire); err != nil {
			return
		}
		got, err := http.ReadRequest(bufio.NewReader(&wire))
		if err != nil {
			return // not something a server would read either
		}
		if _, _, aerr := v.Verify(got, []byte(body), "appmesh"); aerr != nil {
			t.Fatalf("Verify(SDK-signed %s %s, %s: %q, body %q) = %v", method, u, hk, hv, body, aerr)
		}
		if _, _, aerr := v.Verify(got, []byte(body+"x"), "appmesh"); aerr == nil {
			t.Fatalf("Verify accepted a changed body")
		}
	})
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
