package cloudmap

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"testing"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

// FuzzOperations sends arbitrary bodies to every Cloud Map operation through
// the real protocol layer and a real store, and checks the answer is always
// well formed: 200 with a JSON object, or a 4xx AWS error with __type and
// Message, never a 500 or a panic.
func FuzzOperations(f *testing.F) {
	seeds := []string{
		`{}`, `{"Name":"ns1"}`, `{"Name":"x","Vpc":"vpc-1","Properties":{"DnsProperties":{"SOA":{"TTL":60}}}}`,
		`{"Name":"svc","NamespaceId":"ns-aaaaaaaaaaaaaaaa","DnsConfig":{"DnsRecords":[{"Type":"A","TTL":60}]}}`,
		`{"ServiceId":"srv-x","InstanceId":"i-1","Attributes":{"AWS_INSTANCE_IPV4":"10.0.0.1"}}`,
		`{"NamespaceName":"ns1","ServiceName":"svc","QueryParameters":{"a":"b"},"HealthStatus":"ALL","MaxResults":5}`,
		`{"Filters":[{"Name":"TYPE","Values":["HTTP"],"Condition":"IN"}],"MaxResults":1,"NextToken":"bW0xOmE"}`,
		`{"Filters":[{"Name":"UPDATE_DATE","Values":["1","2e12"],"Condition":"BETWEEN"}]}`,
		`{"ResourceARN":"arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-x","Tags":[{"Key":"k","Value":"v"}]}`,
		`{"Id":"arn:aws:servicediscovery:us-east-1:123456789012:service/srv-x","Service":{"DnsConfig":{"DnsRecords":[]}}}`,
		`[`, `null`, `{"MaxResults":"x"}`, `{"Attributes":{"k":null}}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	st, err := boltstore.Open(filepath.Join(f.TempDir(), "fuzz.db"), boltstore.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	b, err := New(context.Background(), st, Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { b.Close() })
	svc := b.API()
	mux := awsapi.NewMux(awsapi.MuxConfig{})
	mux.HandleJSON(svc)
	var ops []string
	for name := range svc.Operations {
		ops = append(ops, name)
	}
	sort.Strings(ops)
	// Some state to act on, so requests reach deep paths.
	for _, body := range []string{`{"Name":"ns1","CreatorRequestId":"t1"}`} {
		serve(f, mux, "CreateHttpNamespace", []byte(body))
	}

	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		name := ops[int(op)%len(ops)]
		rec := serve(t, mux, name, body)
		if rec.Code == http.StatusOK {
			var v map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatalf("%s(%q) = 200 with a body that is not a JSON object: %q", name, body, rec.Body.String())
			}
			return
		}
		if rec.Code >= 500 {
			t.Fatalf("%s(%q) = %d %s; want 200 or 4xx", name, body, rec.Code, rec.Body.String())
		}
		var e struct {
			Type    string `json:"__type"`
			Message string
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Type == "" || e.Message == "" {
			t.Fatalf("%s(%q) = %d with a malformed error body %q", name, body, rec.Code, rec.Body.String())
		}
	})
}

func serve(tb testing.TB, mux http.Handler, op string, body []byte) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", TargetPrefix+"."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}
