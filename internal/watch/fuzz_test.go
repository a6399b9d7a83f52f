package watch

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

// FuzzQuery: any query string gets an answer (200 with an index, or a 4xx
// in the AWS shape), never a panic, a 500 or a held request beyond its wait
// (the fuzzer's waits are cut to a millisecond).
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"namespace=ns&service=svc", "namespace=ns&service=svc&index=zz&wait=1ms",
		"namespace=ns&service=svc&query.a=b&optional.c=d&health=ALL&max=1", "namespace=ns&service=nope",
		"namespace=&service=", "max=99999999999&wait=-1s", "wait=3&index=%00", "namespace=ns&service=svc&health=HEALTHY_OR_ELSE_ALL",
		"namespace=ns&service=svc&query.=x&optional.%FF=1",
	} {
		f.Add(s)
	}
	st, err := boltstore.Open(filepath.Join(f.TempDir(), "fuzz.db"), boltstore.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	b, err := cloudmap.New(context.Background(), st, cloudmap.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { b.Close() })
	mux := awsapi.NewMux(awsapi.MuxConfig{DefaultRegion: "us-east-1"})
	mux.HandleJSON(b.API())
	seed := func(op, body string) string {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("X-Amz-Target", "Route53AutoNaming_v20170314."+op)
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != 200 {
			f.Fatalf("%s: %d %s", op, w.Code, w.Body)
		}
		return w.Body.String()
	}
	seed("CreateHttpNamespace", `{"Name":"ns"}`)
	var list struct{ Namespaces []struct{ Id string } }
	if err := json.Unmarshal([]byte(seed("ListNamespaces", `{}`)), &list); err != nil || len(list.Namespaces) != 1 {
		f.Fatalf("ListNamespaces: %v %v", list, err)
	}
	var svc struct{ Service struct{ Id string } }
	_ = json.Unmarshal([]byte(seed("CreateService", `{"Name":"svc","NamespaceId":"`+list.Namespaces[0].Id+`"}`)), &svc)
	seed("RegisterInstance", `{"ServiceId":"`+svc.Service.Id+`","InstanceId":"i-1","Attributes":{"a":"b","c":"d"}}`)
	mux.HandleSigned("GET /_mapmesh/v1/discover", &Handler{CloudMap: b, maxWait: time.Millisecond})
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/_mapmesh/v1/discover", nil)
		r.URL.RawQuery = query
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r.WithContext(ctx))
		switch {
		case w.Code == 200 && w.Header().Get(IndexHeader) == "":
			t.Fatalf("%q: 200 without an index", query)
		case w.Code >= 500:
			t.Fatalf("%q: %d %s", query, w.Code, w.Body)
		case w.Code != 200 && w.Code != 400:
			t.Fatalf("%q: %d %s", query, w.Code, w.Body)
		}
	})
}
