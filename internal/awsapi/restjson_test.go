package awsapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A small rest-json service: members bound from the URI, the query string
// and headers, a JSON body, and outputs with a payload member or a header.

type thingInput struct {
	Group   *string    `json:"-" location:"uri" locationName:"group"`
	Name    *string    `json:"name,omitzero"`
	Limit   *int32     `json:"-" location:"querystring" locationName:"limit"`
	Flags   []string   `json:"-" location:"querystring" locationName:"flag"`
	Trace   *string    `json:"-" location:"header" locationName:"X-Trace"`
	Inner   *echoInner `json:"inner,omitzero"`
	Version *int64     `json:"version,omitzero"`
}

var ruleLimit = &IntRule{Min: 1, HasMin: true, Max: 10, HasMax: true}

func (s *thingInput) Validate(v *Validation, path string) {
	if s.Group == nil {
		v.Null(Member(path, "group"))
	}
	if s.Name == nil {
		v.Null(Member(path, "name"))
	} else {
		v.String(Member(path, "name"), *s.Name, ruleName)
	}
	if s.Limit != nil {
		v.Int(Member(path, "limit"), int64(*s.Limit), ruleLimit)
	}
	if s.Inner != nil {
		v.Union(Member(path, "inner"), s.Inner.Kind != nil)
	}
}

type thingData struct {
	Group *string  `json:"group,omitzero"`
	Name  *string  `json:"name,omitzero"`
	Flags []string `json:"flags,omitzero"`
	Limit *int32   `json:"limit,omitzero"`
	Trace *string  `json:"trace,omitzero"`
	At    *Time    `json:"at,omitzero"`
}

type thingOutput struct {
	Thing *thingData `json:"thing,omitzero" payload:"true"`
	ETag  *string    `json:"-" location:"header" locationName:"ETag"`
}

type listOutput struct {
	Things    []thingData `json:"things,omitzero"`
	NextToken *string     `json:"nextToken,omitzero"`
}

func restTestMux() *Mux {
	m := NewMux(MuxConfig{DefaultRegion: "us-east-1", MaxBodyBytes: 256})
	put := func(ctx context.Context, in *thingInput) (*thingOutput, error) {
		if *in.Name == "taken" {
			return nil, &Error{Code: "ConflictException", Message: "thing taken exists"}
		}
		if *in.Name == "fire" {
			return nil, errors.New("disk on fire: /var/lib/secret")
		}
		return &thingOutput{Thing: &thingData{Group: in.Group, Name: in.Name, Flags: in.Flags, Limit: in.Limit, Trace: in.Trace,
			At: &Time{time.Date(2020, 4, 16, 16, 51, 0, 121e6, time.UTC)}}, ETag: ptr("v1")}, nil
	}
	m.HandleREST(&RESTService{
		Name: "test", ValidationCode: "BadRequestException", InternalErrorCode: "InternalServerErrorException",
		ErrorStatus: map[string]int{"BadRequestException": 400, "ConflictException": 409, "NotFoundException": 404},
		Routes: []RESTRoute{
			{Op: "PutThing", Method: "PUT", Path: "/v1/groups/{group}/things", Code: 200},
			{Op: "ListThings", Method: "GET", Path: "/v1/groups/{group}/things", Code: 200},
			{Op: "DeleteGroup", Method: "DELETE", Path: "/v1/groups/{group}", Code: 204},
		},
		Operations: map[string]Operation{
			"PutThing": Op(put),
			"ListThings": Op(func(ctx context.Context, in *struct {
				Group *string `json:"-" location:"uri" locationName:"group"`
			}) (*listOutput, error) {
				if *in.Group == "none" {
					return nil, &Error{Code: "NotFoundException", Message: "group none is not present"}
				}
				return &listOutput{Things: []thingData{}}, nil
			}),
			"DeleteGroup": Op(func(ctx context.Context, in *struct {
				Group *string `json:"-" location:"uri" locationName:"group"`
			}) (*struct{}, error) {
				return nil, nil
			}),
		},
	})
	return m
}

// TestRESTGolden replays the raw requests in testdata/restjson/*.http and
// compares the raw responses (request ID masked) with the .golden files.
func TestRESTGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/restjson/*.http")
	if len(files) == 0 {
		t.Fatal("no testdata/restjson/*.http")
	}
	m := restTestMux()
	reqID := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".http")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			m.ServeHTTP(rec, req)
			dump, err := httputil.DumpResponse(rec.Result(), true)
			if err != nil {
				t.Fatal(err)
			}
			got := reqID.ReplaceAll(dump, []byte("REQUEST-ID"))
			golden := strings.TrimSuffix(f, ".http") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("response to %s:\n%s\nwant:\n%s", name, got, want)
			}
		})
	}
}

// TestHandleRESTPanics: a route without an operation, or an operation
// without a route, is a programming error caught at registration.
func TestHandleRESTPanics(t *testing.T) {
	for _, s := range []*RESTService{
		{Name: "no op", Routes: []RESTRoute{{Op: "X", Method: "GET", Path: "/x", Code: 200}}},
		{Name: "no route", Operations: map[string]Operation{"X": Op(func(context.Context, *struct{}) (*struct{}, error) { return nil, nil })}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("HandleREST(%s) did not panic", s.Name)
				}
			}()
			NewMux(MuxConfig{}).HandleREST(s)
		}()
	}
}

// FuzzRESTJSON sends arbitrary methods, paths, query strings and bodies
// through a rest-json service: the answer is always a success or an AWS
// error with the x-amzn-ErrorType header and a JSON message, never a
// panic, and never internal text.
func FuzzRESTJSON(f *testing.F) {
	for _, s := range []struct{ method, path, body string }{
		{"PUT", "/v1/groups/g/things?limit=3&flag=a&flag=b", `{"name":"abc","inner":{"Kind":"A"}}`},
		{"PUT", "/v1/groups/g/things", `{"name":1}`},
		{"PUT", "/v1/groups/g/things?limit=x", `{"name":"abc"}`},
		{"PUT", "/v1/groups/g%2Fh/things", `[1,2`},
		{"GET", "/v1/groups/none/things", ``},
		{"DELETE", "/v1/groups/g", ``},
		{"PATCH", "/v1/groups/g", `{}`},
	} {
		f.Add(s.method, s.path, []byte(s.body))
	}
	m := restTestMux()
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#") || method == "" || strings.ContainsAny(method, " \r\n\t/") {
			return // not a request line net/http would accept
		}
		req, err := http.NewRequest(method, "http://h"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		if bytes.Contains(body, []byte("fire")) {
			return // the golden tests' deliberate internal error
		}
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Header().Get("X-Amzn-Requestid") == "" {
			t.Fatalf("%s %s body %q: %d %s", method, path, body, rec.Code, rec.Body.String())
		}
		if rec.Code >= 300 && (rec.Header().Get("X-Amzn-Errortype") == "" || !bytes.Contains(rec.Body.Bytes(), []byte(`essage"`))) {
			t.Fatalf("%s %s body %q: error without x-amzn-ErrorType or message: %d %v %s", method, path, body, rec.Code, rec.Header(), rec.Body.String())
		}
	})
}
