package awsapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RESTService is one service spoken in rest-json (restJson1): each
// operation has its own method and path pattern, input members are bound
// from the URI, the query string, headers and the JSON body by their model
// location, and errors carry their code in the x-amzn-ErrorType header with
// the body {"message": ...}.
type RESTService struct {
	// Name identifies the service in logs and panics ("appmesh 2019-01-25").
	Name string
	// ValidationCode is the error code for constraint violations and for
	// bodies, query strings or headers that cannot be decoded
	// ("BadRequestException" for App Mesh).
	ValidationCode string
	// InternalErrorCode, if set, is the code shown for errors that are not
	// *Error (a 500); "InternalFailure" otherwise.
	InternalErrorCode string
	// ErrorStatus gives the HTTP status of each error code (the model's
	// httpStatusCode); codes it lacks, and 0 entries, are 400.
	ErrorStatus map[string]int
	// Routes gives every operation's method, path pattern and success status
	// (generated from the model).
	Routes []RESTRoute
	// Operations maps operation names to methods.
	Operations map[string]Operation
	// Faults names the codes of store and request failures.
	Faults Faults
	// SigningName is the service name of SigV4 credential scopes ("appmesh").
	SigningName string
	// Throttle, if set, limits the requests of each account and operation.
	Throttle *Throttle
}

// RESTRoute is the HTTP binding of one rest-json operation.
type RESTRoute struct {
	// Op is the operation name ("CreateMesh").
	Op string
	// Method and Path form a Go ServeMux pattern: "PUT /v20190125/meshes/{meshName}".
	Method, Path string
	// Code is the status of a successful response.
	Code int
}

const contentTypeJSON = "application/json"

// HandleREST registers every route of a rest-json service on the Mux. It
// panics when a route names an operation the service does not implement,
// or an operation has no route: both are programming errors. Call it
// before serving.
func (m *Mux) HandleREST(s *RESTService) {
	m.signingNames[s.SigningName] = true
	seen := map[string]bool{}
	for _, rt := range s.Routes {
		op, ok := s.Operations[rt.Op]
		if !ok {
			panic("awsapi: " + s.Name + ": route " + rt.Method + " " + rt.Path + " names the unimplemented operation " + rt.Op)
		}
		seen[rt.Op] = true
		h := &restHandler{mux: m, svc: s, route: rt, op: op}
		m.routes.Handle(rt.Method+" "+rt.Path, h)
	}
	for _, name := range slices.Sorted(maps.Keys(s.Operations)) {
		if !seen[name] {
			panic("awsapi: " + s.Name + ": operation " + name + " has no route")
		}
	}
}

type restHandler struct {
	mux   *Mux
	svc   *RESTService
	route RESTRoute
	op    Operation
}

func (h *restHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, _ := CallerFrom(r.Context())
	buf := getBuf()
	defer putBuf(buf)
	body, err := readBody(r, h.mux.maxBody, (*buf)[:0])
	if err != nil {
		h.writeError(w, c, err)
		return
	}
	*buf = body
	if aerr := h.mux.authenticate(r, body, h.svc.SigningName, &c); aerr != nil {
		writeRESTError(w, http.StatusForbidden, aerr) // as AWS's rest-json services answer
		return
	}
	noteAccount(r, c.Account)
	if terr := h.svc.Throttle.allow(c, h.route.Op, time.Now()); terr != nil {
		h.writeError(w, c, terr)
		return
	}
	ctx := r.Context()
	if c.Verified {
		ctx = WithCaller(ctx, c)
	}
	in, err := decodeREST(h.op.newInput(), r, body, h.svc.ValidationCode)
	if err != nil {
		h.writeError(w, c, err)
		return
	}
	out, err := h.op.call(ctx, in)
	if err != nil {
		h.writeError(w, c, h.mux.fault(c, h.svc.Faults, err))
		return
	}
	resp, err := encodeREST(w.Header(), body[:0], out)
	if err != nil {
		h.writeError(w, c, fmt.Errorf("awsapi: encode %s output: %w", h.route.Op, err))
		return
	}
	*buf = resp
	hd := w.Header()
	if h.route.Code == http.StatusNoContent || h.route.Code == http.StatusNotModified {
		w.WriteHeader(h.route.Code) // no body allowed
		return
	}
	hd["Content-Type"] = []string{contentTypeJSON}
	hd["Content-Length"] = []string{strconv.Itoa(len(resp))}
	w.WriteHeader(h.route.Code)
	_, _ = w.Write(resp)
}

// writeError renders err in the rest-json error shape: the code in the
// x-amzn-ErrorType header, the status from the model, and the body
// {"message": text, ...extra members}.
func (h *restHandler) writeError(w http.ResponseWriter, c Caller, err error) {
	ae := h.mux.toAWSError(c, err)
	if ae.Code == internalFailure && h.svc.InternalErrorCode != "" {
		ae = &Error{Code: h.svc.InternalErrorCode, Status: ae.Status, Message: ae.Message}
	}
	status := ae.Status
	if status == 0 {
		status = h.svc.ErrorStatus[ae.Code]
	}
	if status == 0 {
		status = http.StatusBadRequest
	}
	writeRESTError(w, status, ae)
}

func writeRESTError(w http.ResponseWriter, status int, ae *Error) {
	writeErrorResponse(w, status, contentTypeJSON, append([]byte(`{"message":`), jsonString(ae.Message)...), ae)
}

// restField is one member of an input or output structure bound outside
// the JSON body, or the payload member.
type restField struct {
	index    int
	location string // "uri", "querystring", "header", "headers" or "payload"
	name     string // locationName
}

// restFields caches the bound members of each structure type.
var restFields sync.Map // reflect.Type -> []restField

func fieldsOf(t reflect.Type) []restField {
	if f, ok := restFields.Load(t); ok {
		return f.([]restField)
	}
	var out []restField
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		switch {
		case sf.Tag.Get("payload") == "true":
			out = append(out, restField{index: i, location: "payload"})
		case sf.Tag.Get("location") != "":
			out = append(out, restField{index: i, location: sf.Tag.Get("location"), name: sf.Tag.Get("locationName")})
		}
	}
	restFields.Store(t, out)
	return out
}

// decodeREST fills in (a pointer to a struct) from the request: body
// members from the JSON body (or the payload member from the whole body),
// the others from their location, then validates it.
func decodeREST(in any, r *http.Request, body []byte, code string) (any, error) {
	v := reflect.ValueOf(in).Elem()
	if v.Kind() != reflect.Struct {
		return in, nil
	}
	fields := fieldsOf(v.Type())
	payload := -1
	for _, f := range fields {
		if f.location == "payload" {
			payload = f.index
		}
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		dst := in
		if payload >= 0 {
			fv := v.Field(payload)
			if fv.Kind() == reflect.Pointer {
				fv.Set(reflect.New(fv.Type().Elem()))
				dst = fv.Interface()
			} else {
				dst = fv.Addr().Interface()
			}
		}
		if err := json.Unmarshal(body, dst); err != nil {
			se := serializationError(err)
			return nil, &Error{Code: code, Message: se.Message}
		}
	}
	var query map[string][]string
	for _, f := range fields {
		var vals []string
		switch f.location {
		case "uri":
			s := r.PathValue(f.name)
			if s == "" {
				continue
			}
			vals = []string{s}
		case "querystring":
			if query == nil {
				query = r.URL.Query()
			}
			vals = query[f.name]
		case "header":
			vals = r.Header.Values(f.name)
		case "headers":
			fv := v.Field(f.index)
			if fv.Type() != reflect.TypeFor[map[string]string]() {
				continue
			}
			m := map[string]string{}
			for k, vs := range r.Header {
				if p, ok := strings.CutPrefix(strings.ToLower(k), strings.ToLower(f.name)); ok && len(vs) > 0 {
					m[p] = vs[0]
				}
			}
			if len(m) > 0 {
				fv.Set(reflect.ValueOf(m))
			}
			continue
		default:
			continue
		}
		if len(vals) == 0 {
			continue
		}
		if err := setScalar(v.Field(f.index), vals, f.location == "header"); err != nil {
			return nil, &Error{Code: code, Message: fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: %s", vals[0], f.name, err)}
		}
	}
	return in, validate(in, code)
}

// setScalar sets a *string, *int32, *int64, *float64, *bool or []string
// field from its text form. A header list is one comma-separated value.
func setScalar(fv reflect.Value, vals []string, header bool) error {
	t := fv.Type()
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String {
		var list []string
		for _, s := range vals {
			if header {
				for p := range strings.SplitSeq(s, ",") {
					list = append(list, strings.TrimSpace(p))
				}
				continue
			}
			list = append(list, s)
		}
		fv.Set(reflect.ValueOf(list))
		return nil
	}
	if t.Kind() != reflect.Pointer {
		return fmt.Errorf("unsupported member type %s", t)
	}
	s := vals[0]
	p := reflect.New(t.Elem())
	switch t.Elem().Kind() {
	case reflect.String:
		p.Elem().SetString(s)
	case reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Elem().Bits())
		if err != nil {
			return fmt.Errorf("Member must be an integer")
		}
		p.Elem().SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("Member must be a number")
		}
		p.Elem().SetFloat(f)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("Member must be a boolean")
		}
		p.Elem().SetBool(b)
	default:
		return fmt.Errorf("unsupported member type %s", t)
	}
	fv.Set(p)
	return nil
}

// encodeREST appends the body of an operation's output to dst and sets its
// header members on h: the payload member alone when the output has one,
// else every body member as a JSON object.
func encodeREST(h http.Header, dst []byte, out any) ([]byte, error) {
	if out == nil {
		return append(dst, "{}"...), nil
	}
	v := reflect.ValueOf(out)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return encodeJSON(dst, out)
	}
	var payload any
	hasPayload := false
	for _, f := range fieldsOf(v.Type()) {
		fv := v.Field(f.index)
		switch f.location {
		case "payload":
			hasPayload = true
			if !fv.IsZero() {
				payload = fv.Interface()
			}
		case "header":
			if fv.Kind() == reflect.Pointer && !fv.IsNil() {
				h.Set(f.name, fmt.Sprint(fv.Elem().Interface()))
			}
		case "headers":
			if m, ok := fv.Interface().(map[string]string); ok {
				for k, s := range m {
					h.Set(f.name+k, s)
				}
			}
		}
	}
	if hasPayload {
		if payload == nil {
			return append(dst, "{}"...), nil
		}
		return encodeJSON(dst, payload)
	}
	return encodeJSON(dst, out)
}
