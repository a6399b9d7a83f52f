package awsapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
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

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// A small service to exercise the protocol without any real service.

type echoInput struct {
	Name  *string           `json:"Name,omitzero"`
	Count *int32            `json:"Count,omitzero"`
	Tags  map[string]string `json:"Tags,omitzero"`
	Inner *echoInner        `json:"Inner,omitzero"`
}

type echoInner struct {
	Kind *string `json:"Kind,omitzero"`
}

var (
	ruleName  = &StringRule{Min: 1, Max: 8, Pattern: MustPattern("^[a-z]+$"), PatternText: "^[a-z]+$"}
	ruleKind  = &StringRule{Min: -1, Max: -1, Enum: []string{"A", "B"}}
	ruleCount = &IntRule{Min: 1, HasMin: true, Max: 10, HasMax: true}
)

func (s *echoInput) Validate(v *Validation, path string) {
	if s.Name == nil {
		v.Null(Member(path, "Name"))
	} else {
		v.String(Member(path, "Name"), *s.Name, ruleName)
	}
	if s.Count != nil {
		v.Int(Member(path, "Count"), int64(*s.Count), ruleCount)
	}
	if s.Inner != nil && s.Inner.Kind != nil {
		v.String(Member(Member(path, "Inner"), "Kind"), *s.Inner.Kind, ruleKind)
	}
}

type echoOutput struct {
	Name    *string `json:"Name,omitzero"`
	Account *string `json:"Account,omitzero"`
	Region  *string `json:"Region,omitzero"`
	At      *Time   `json:"At,omitzero"`
}

func testMux() *Mux {
	m := NewMux(MuxConfig{DefaultRegion: "us-east-1", MaxBodyBytes: 256})
	m.HandleJSON(&JSONService{TargetPrefix: "Test_20200101", ValidationCode: "InvalidInput", Operations: map[string]Operation{
		"Echo": Op(func(ctx context.Context, in *echoInput) (*echoOutput, error) {
			c, _ := CallerFrom(ctx)
			return &echoOutput{Name: in.Name, Account: &c.Account, Region: &c.Region,
				At: &Time{time.Date(2020, 4, 16, 16, 51, 0, 121e6, time.UTC)}}, nil
		}),
		"Fail": Op(func(ctx context.Context, in *echoInput) (*echoOutput, error) {
			if *in.Name == "aws" {
				return nil, &Error{Code: "ThingAlreadyExists", Message: "Thing already exists.", Fields: map[string]any{"ThingId": "t-1"}}
			}
			return nil, errors.New("disk on fire: /var/lib/secret")
		}),
		"Nothing": Op(func(ctx context.Context, in *struct{}) (*struct{}, error) { return nil, nil }),
	}})
	return m
}

// TestWireGolden replays the raw requests in testdata/*.http and compares
// the raw responses (request ID masked) with testdata/*.golden.
func TestWireGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.http")
	if len(files) == 0 {
		t.Fatal("no testdata/*.http")
	}
	m := testMux()
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
			if got := rec.Header().Get("X-Amzn-Requestid"); !reqID.MatchString(got) {
				t.Errorf("x-amzn-RequestId = %q; want a UUID", got)
			}
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

func TestTimeJSON(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.UnixMilli(1587081768334), "1587081768.334"},
		{time.UnixMilli(1587081768000), "1587081768"},
		{time.UnixMilli(1587081768001), "1587081768.001"},
	}
	for _, tc := range tests {
		got, _ := Time{tc.t}.MarshalJSON()
		if string(got) != tc.want {
			t.Errorf("Time(%v).MarshalJSON() = %s; want %s", tc.t, got, tc.want)
		}
		var back Time
		if err := back.UnmarshalJSON(got); err != nil || !back.Equal(tc.t) {
			t.Errorf("UnmarshalJSON(%s) = %v, %v; want %v", got, back.Time, err, tc.t)
		}
	}
}

func TestValidationMessages(t *testing.T) {
	tests := []struct {
		name string
		in   echoInput
		want string
	}{
		{"missing required", echoInput{}, "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"},
		{"too long and pattern", echoInput{Name: ptr("ABCDEFGHIJ")}, "2 validation errors detected: Value 'ABCDEFGHIJ' at 'name' failed to satisfy constraint: Member must have length less than or equal to 8; Value 'ABCDEFGHIJ' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-z]+$"},
		{"range and nested enum", echoInput{Name: ptr("ok"), Count: ptr(int32(11)), Inner: &echoInner{Kind: ptr("C")}}, "2 validation errors detected: Value '11' at 'count' failed to satisfy constraint: Member must have value less than or equal to 10; Value 'C' at 'inner.kind' failed to satisfy constraint: Member must satisfy enum value set: [A, B]"},
		{"valid", echoInput{Name: ptr("ok"), Count: ptr(int32(1))}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v Validation
			tc.in.Validate(&v, "")
			if got := v.Message(); got != tc.want {
				t.Errorf("Validate() message = %q; want %q", got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// FuzzJSON11 sends arbitrary targets and bodies through the Mux: the answer
// is always 200 or an AWS error with __type and Message, never a panic, and
// never internal text.
func FuzzJSON11(f *testing.F) {
	for _, s := range []struct{ target, body string }{
		{"Test_20200101.Echo", `{"Name":"abc","Count":3,"Inner":{"Kind":"A"}}`},
		{"Test_20200101.Echo", `{"Name":1}`},
		{"Test_20200101.Echo", `[1,2`},
		{"Test_20200101.Nothing", ``},
		{"Nope.Echo", `{}`},
		{"Test_20200101", `{}`},
	} {
		f.Add(s.target, []byte(s.body))
	}
	m := testMux()
	f.Fuzz(func(t *testing.T, target string, body []byte) {
		if strings.HasSuffix(target, ".Fail") {
			return // the golden tests' deliberate internal error
		}
		req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Header().Get("X-Amzn-Requestid") == "" {
			t.Fatalf("target %q body %q: %d %s", target, body, rec.Code, rec.Body.String())
		}
		if rec.Code != 200 && !bytes.Contains(rec.Body.Bytes(), []byte(`"__type"`)) {
			t.Fatalf("target %q body %q: error without __type: %s", target, body, rec.Body.String())
		}
	})
}
