package awsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mapmesh/mapmesh/internal/store"
)

// TestFaults: the failures of the store and of the request become each
// service's codes, with the status that makes the SDKs retry, on both
// protocols; anything else stays a hidden 500.
func TestFaults(t *testing.T) {
	errs := map[string]error{
		"nospace":     fmt.Errorf("boltstore: commit: %w: write /data/x.wal: no space left on device", store.ErrNoSpace),
		"unavailable": fmt.Errorf("projection: %w", store.ErrUnavailable),
		"closed":      fmt.Errorf("boltstore: %w", store.ErrClosed),
		"deadline":    fmt.Errorf("wait: %w", context.DeadlineExceeded),
		"conflict":    fmt.Errorf("cloudmap: 64 attempts: %w", store.ErrConflict),
		"toolarge":    fmt.Errorf("boltstore: key of 40000 bytes: %w", store.ErrTooLarge),
		"other":       errors.New("disk on fire: /var/lib/secret"),
		"modeled":     &Error{Code: "NotFoundException", Message: "no such thing"},
	}
	fail := Op(func(ctx context.Context, in *struct {
		Kind *string `json:"Kind,omitzero"`
	}) (*struct{}, error) {
		return nil, errs[*in.Kind]
	})
	m := NewMux(MuxConfig{})
	m.HandleJSON(&JSONService{TargetPrefix: "Test_20200101", ValidationCode: "InvalidInput",
		Operations: map[string]Operation{"Fail": fail},
		Faults:     Faults{Unavailable: "ServiceUnavailable", Throttled: "ThrottlingException", TooLarge: "InvalidInput"}})
	m.HandleREST(&RESTService{Name: "test", ValidationCode: "BadRequestException", InternalErrorCode: "InternalServerErrorException",
		ErrorStatus: map[string]int{"NotFoundException": 404},
		Routes:      []RESTRoute{{Op: "Fail", Method: "POST", Path: "/fail", Code: 200}},
		Operations:  map[string]Operation{"Fail": fail},
		Faults:      Faults{Unavailable: "ServiceUnavailableException", Throttled: "TooManyRequestsException", ThrottledStatus: 429, TooLarge: "LimitExceededException"}})
	for _, tc := range []struct {
		kind                 string
		jsonCode, restCode   string
		jsonStatus, restStat int
		message              string // a substring of the message
	}{
		{"nospace", "ServiceUnavailable", "ServiceUnavailableException", 503, 503, "no space left on device"},
		{"unavailable", "ServiceUnavailable", "ServiceUnavailableException", 503, 503, "temporarily unavailable"},
		{"closed", "ServiceUnavailable", "ServiceUnavailableException", 503, 503, "temporarily unavailable"},
		{"deadline", "ServiceUnavailable", "ServiceUnavailableException", 503, 503, "temporarily unavailable"},
		{"conflict", "ThrottlingException", "TooManyRequestsException", 400, 429, "concurrent changes"},
		{"toolarge", "InvalidInput", "LimitExceededException", 400, 400, "one transaction"},
		{"other", "InternalFailure", "InternalServerErrorException", 500, 500, "unknown error"},
		{"modeled", "NotFoundException", "NotFoundException", 400, 404, "no such thing"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			body := `{"Kind":"` + tc.kind + `"}`
			req := httptest.NewRequest("POST", "/", strings.NewReader(body))
			req.Header.Set("X-Amz-Target", "Test_20200101.Fail")
			check(t, m, req, "JSON 1.1", tc.jsonStatus, tc.jsonCode, "Message", tc.message)
			check(t, m, httptest.NewRequest("POST", "/fail", strings.NewReader(body)), "rest-json", tc.restStat, tc.restCode, "message", tc.message)
		})
	}
}

func check(t *testing.T, m *Mux, req *http.Request, proto string, status int, code, msgField, msg string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, req)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: body %q: %v", proto, rec.Body.String(), err)
	}
	gotMsg, _ := body[msgField].(string)
	if rec.Code != status || rec.Header().Get("X-Amzn-ErrorType") != code || !strings.Contains(gotMsg, msg) {
		t.Errorf("%s: answer = %d %s %q; want %d %s with %q", proto, rec.Code, rec.Header().Get("X-Amzn-ErrorType"), gotMsg, status, code, msg)
	}
	if strings.Contains(rec.Body.String(), "/var/lib") || strings.Contains(rec.Body.String(), "/data/") {
		t.Errorf("%s: the answer %q shows server internals", proto, rec.Body.String())
	}
}
