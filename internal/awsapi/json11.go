package awsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// JSONService is one service spoken in AWS JSON 1.1: every operation is
// POST / with the header X-Amz-Target: <TargetPrefix>.<Operation>.
type JSONService struct {
	// TargetPrefix is the model's targetPrefix ("Route53AutoNaming_v20170314").
	TargetPrefix string
	// ValidationCode is the error code for constraint violations
	// ("InvalidInput" for Cloud Map).
	ValidationCode string
	// Operations maps operation names to methods.
	Operations map[string]Operation
	// Faults names the codes of store and request failures.
	Faults Faults
	// SigningName is the service name of SigV4 credential scopes
	// ("servicediscovery").
	SigningName string
	// Throttle, if set, limits the requests of each account and operation.
	Throttle *Throttle
}

const contentTypeJSON11 = "application/x-amz-json-1.1"

// serveJSON11 serves one JSON 1.1 request whose target has been split into
// service and operation.
func (m *Mux) serveJSON11(w http.ResponseWriter, r *http.Request, c Caller, target string) {
	prefix, opName, _ := strings.Cut(target, ".")
	svc := m.json[prefix]
	var op Operation
	ok := false
	if svc != nil {
		op, ok = svc.Operations[opName]
	}
	buf := getBuf()
	defer putBuf(buf)
	body, err := readBody(r, m.maxBody, (*buf)[:0])
	if err != nil {
		m.writeJSONError(w, c, err)
		return
	}
	*buf = body
	if m.auth != nil {
		name := "servicediscovery"
		if svc != nil {
			name = svc.SigningName
		}
		if aerr := m.authenticate(r, body, name, &c); aerr != nil {
			m.writeJSONError(w, c, aerr) // 400, as AWS's JSON services answer
			return
		}
	}
	noteAccount(r, c.Account)
	if !ok {
		m.writeJSONError(w, c, &Error{Code: "UnknownOperationException", Message: "Unknown operation " + target})
		return
	}
	if r.Method != http.MethodPost {
		m.writeJSONError(w, c, &Error{Code: "UnknownOperationException", Message: "Operation " + target + " requires POST"})
		return
	}
	if terr := svc.Throttle.allow(c, opName, time.Now()); terr != nil {
		m.writeJSONError(w, c, terr)
		return
	}
	in, err := op.decodeJSON(body, svc.ValidationCode)
	if err != nil {
		m.writeJSONError(w, c, err)
		return
	}
	out, err := op.call(WithCaller(r.Context(), c), in)
	if err != nil {
		m.writeJSONError(w, c, m.fault(c, svc.Faults, err))
		return
	}
	var resp []byte
	if jb, ok := out.(JSONBody); ok {
		resp = jb.JSONBody() // shared: not to be pooled
	}
	if resp == nil {
		if resp, err = encodeJSON(body[:0], out); err != nil {
			m.writeJSONError(w, c, fmt.Errorf("awsapi: encode %s output: %w", opName, err))
			return
		}
		*buf = resp
	}
	h := w.Header()
	h["Content-Type"] = []string{contentTypeJSON11}
	h["Content-Length"] = []string{strconv.Itoa(len(resp))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp)
}

// writeJSONError renders err in the JSON 1.1 error shape:
// {"__type": code, "Message": text, ...extra members}. Errors that are not
// *Error are logged with the request ID and shown as a generic 500.
func (m *Mux) writeJSONError(w http.ResponseWriter, c Caller, err error) {
	ae := m.toAWSError(c, err)
	b := append([]byte(`{"__type":`), jsonString(ae.Code)...)
	b = append(b, `,"Message":`...)
	b = append(b, jsonString(ae.Message)...)
	writeErrorResponse(w, ae.HTTPStatus(), contentTypeJSON11, b, ae)
}

// writeErrorResponse finishes an error body that starts with its message
// member (the protocol's shape) with the error's extra members, and writes
// it with the code in X-Amzn-ErrorType.
func writeErrorResponse(w http.ResponseWriter, status int, contentType string, b []byte, ae *Error) {
	for _, k := range slices.Sorted(maps.Keys(ae.Fields)) {
		v, _ := json.Marshal(ae.Fields[k])
		b = append(b, ',')
		b = append(b, jsonString(k)...)
		b = append(b, ':')
		b = append(b, v...)
	}
	b = append(b, '}')
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Amzn-ErrorType", ae.Code)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// internalFailure is the code of errors that are not *Error.
const internalFailure = "InternalFailure"

// toAWSError maps any error to the *Error the client sees. This is the one
// place internal errors are hidden from clients.
func (m *Mux) toAWSError(c Caller, err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		m.log.Debug("request failed", "request_id", c.RequestID, "code", ae.Code, "message", ae.Message)
		return ae
	}
	m.log.Error("internal error", "request_id", c.RequestID, "err", err)
	return &Error{Code: internalFailure, Status: http.StatusInternalServerError,
		Message: "The request processing has failed because of an unknown error, exception or failure."}
}

// serializationError describes a body that is not JSON or does not fit the
// input shape, without quoting Go internals.
func serializationError(err error) *Error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		where := te.Field
		if where == "" {
			return &Error{Code: "SerializationException", Message: "Expected a JSON object as the request body, found " + te.Value}
		}
		return &Error{Code: "SerializationException", Message: fmt.Sprintf("Unexpected %s at '%s'; expected %s", jsonKind(te.Value), where, awsKind(te.Type.Kind().String()))}
	case errors.As(err, &se):
		return &Error{Code: "SerializationException", Message: fmt.Sprintf("Malformed JSON at offset %d", se.Offset)}
	}
	return &Error{Code: "SerializationException", Message: "Malformed request body"}
}

func jsonKind(v string) string {
	switch {
	case strings.HasPrefix(v, "number"):
		return "number"
	case v == "":
		return "value"
	}
	return v
}

func awsKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int32", "int64", "int", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "slice":
		return "a list"
	case "map", "struct", "ptr":
		return "a structure or map"
	}
	return "another type"
}

// WriteError answers err in the AWS JSON 1.1 error shape, for endpoints
// beside the services (the blocking queries): an *Error with its status,
// anything else a 500 with a generic message.
func WriteError(w http.ResponseWriter, err error) {
	ae, ok := err.(*Error)
	if !ok {
		ae = &Error{Code: internalFailure, Status: http.StatusInternalServerError,
			Message: "The request processing has failed because of an unknown error, exception or failure."}
	}
	b := append([]byte(`{"__type":`), jsonString(ae.Code)...)
	b = append(b, `,"Message":`...)
	b = append(b, jsonString(ae.Message)...)
	writeErrorResponse(w, ae.HTTPStatus(), contentTypeJSON11, b, ae)
}
