// Package awsapi implements the AWS wire protocols mapmesh speaks (AWS JSON 1.1
// for Cloud Map, rest-json for App Mesh) and nothing about any one service, the
// way net/http knows nothing about the handlers it serves.
//
// A service hands the Mux a table of Operations, each a typed method
// func(ctx, *Input) (*Output, error). The Mux assigns the request ID, reads the
// account and region from the SigV4 credential scope, picks the protocol,
// decodes and validates the input (generated Validate methods), calls the
// method and encodes the output or the error. Errors of type *Error are shown
// to the client as AWS shows them; any other error becomes a 500 with a
// generic message and is logged with the request ID.
package awsapi

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// Error is an AWS error as the client sees it.
type Error struct {
	// Code is the error code, the shape name in the model
	// ("ServiceNotFound", "InvalidInput").
	Code string
	// Message is the human-readable text.
	Message string
	// Status is the HTTP status; 0 means 400.
	Status int
	// Fields holds the extra members the model gives the error shape
	// (NamespaceAlreadyExists.NamespaceId, DuplicateRequest.DuplicateOperationId, ...).
	Fields map[string]any
}

func (e *Error) Error() string { return "awsapi: " + e.Code + ": " + e.Message }

// HTTPStatus returns the status to send, 400 when unset.
func (e *Error) HTTPStatus() int {
	if e.Status == 0 {
		return 400
	}
	return e.Status
}

// Errorf returns an *Error with status 400.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Caller is who made a request and where it was sent, as read from the SigV4
// credential scope.
type Caller struct {
	RequestID string
	// Account is the 12-digit AWS account the request acts for.
	Account string
	// Region is the region of the credential scope, or the server's default.
	Region string
	// AccessKey is the access key ID of the credential, if any.
	AccessKey string
	// Verified says the request's signature was verified (the Mux has
	// Auth): Account is then the account of the identity that signed it.
	Verified bool
	// Admin says the verified identity may use the admin endpoints.
	Admin bool
}

type callerKey struct{}

// WithCaller returns a context that carries c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the Caller in ctx, and false if there is none.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// NewRequestID returns a random UUID (version 4) in its text form, the shape
// AWS uses for x-amzn-RequestId. Its bits come from the runtime's generator
// (math/rand/v2: seeded from the OS, per thread, no system call), not
// crypto/rand, which made a getrandom system call for every request: an ID
// must be unique, not secret.
func NewRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// Time is a timestamp encoded the way AWS JSON protocols encode them: a JSON
// number of seconds since the Unix epoch, with millisecond precision
// (1587081768.334).
type Time struct{ time.Time }

// NewTime returns t truncated to milliseconds.
func NewTime(t time.Time) *Time { return &Time{t.Truncate(time.Millisecond)} }

// AppendJSON appends the epoch-seconds form of t.
func (t Time) AppendJSON(dst []byte) []byte {
	ms := t.UnixMilli()
	if ms%1000 == 0 {
		return strconv.AppendInt(dst, ms/1000, 10)
	}
	return strconv.AppendFloat(dst, float64(ms)/1000, 'f', -1, 64)
}

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) { return t.AppendJSON(nil), nil }

// UnmarshalJSON accepts epoch seconds as a number, and, leniently, an
// RFC 3339 string.
func (t *Time) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) > 1 && s[0] == '"' {
		v, err := time.Parse(time.RFC3339Nano, s[1:len(s)-1])
		if err != nil {
			return fmt.Errorf("awsapi: timestamp %s: %w", s, err)
		}
		t.Time = v
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("awsapi: timestamp %s: %w", s, err)
	}
	t.Time = time.UnixMilli(int64(f*1000 + 0.5)).UTC()
	return nil
}
