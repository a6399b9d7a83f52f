package awsapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultAccount is the account used when a request's access key is not a
// 12-digit account ID.
const DefaultAccount = "123456789012"

// DefaultMaxBodyBytes bounds request bodies unless MuxConfig says otherwise.
const DefaultMaxBodyBytes = 1 << 20

// MuxConfig configures a Mux.
type MuxConfig struct {
	// DefaultRegion is used when a request carries no SigV4 credential scope.
	DefaultRegion string
	// MaxBodyBytes bounds request bodies (DefaultMaxBodyBytes when 0).
	MaxBodyBytes int64
	// Auth, if set, verifies the SigV4 signature of every request (but
	// those of routes registered with Handle), and a request acts in the
	// account of the identity that signed it. Nil (--auth none): nothing
	// is verified, and the account is the access key when it is 12
	// digits, else DefaultAccount.
	Auth *Verifier
	// Observe, if set, is called once per request after its answer is
	// written, on the request's goroutine; it must be quick (metrics).
	Observe func(Observation)
	Logger  *slog.Logger
}

// Observation describes one answered request, for metrics and the access
// log.
type Observation struct {
	// Service is the signing name ("servicediscovery", "appmesh"), or
	// "mapmesh" for the plain routes; Operation the operation name, or the
	// route pattern of a plain route ("" when nothing matched).
	Service, Operation string
	// Code is the error code answered ("" on success); Status the HTTP
	// status.
	Code   string
	Status int
	// Account is the caller's account, once known.
	Account   string
	RequestID string
	Duration  time.Duration
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets handlers that stream (server-sent events) flush.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestAccount carries, in a request's context, the account its caller
// turned out to be (known only once the signature is verified).
type requestAccount struct{ account string }

type requestAccountKey struct{}

func noteAccount(r *http.Request, account string) {
	if ra, ok := r.Context().Value(requestAccountKey{}).(*requestAccount); ok {
		ra.account = account
	}
}

// Mux is the front door of the AWS API port. It assigns x-amzn-RequestId,
// reads the caller from the Authorization header, and routes: requests with
// X-Amz-Target go to the JSON 1.1 service named by the target's prefix; the
// rest go to the rest-json routes registered with HandleREST and the plain
// routes registered with Handle. It never routes on
// Host, so requests sent to a "data-" host prefix are served the same way.
type Mux struct {
	defaultRegion string
	maxBody       int64
	auth          *Verifier
	observe       func(Observation)
	log           *slog.Logger
	json          map[string]*JSONService
	routes        *http.ServeMux
	// signingNames are the services' signing names, which a signature
	// for a route registered with HandleSigned may be scoped to.
	signingNames map[string]bool
}

// NewMux returns an empty Mux.
func NewMux(cfg MuxConfig) *Mux {
	m := &Mux{
		defaultRegion: cfg.DefaultRegion,
		maxBody:       cfg.MaxBodyBytes,
		auth:          cfg.Auth,
		observe:       cfg.Observe,
		log:           cfg.Logger,
		json:          map[string]*JSONService{},
		routes:        http.NewServeMux(),
		signingNames:  map[string]bool{"mapmesh": true},
	}
	if m.defaultRegion == "" {
		m.defaultRegion = "us-east-1"
	}
	if m.maxBody <= 0 {
		m.maxBody = DefaultMaxBodyBytes
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m
}

// HandleJSON registers a JSON 1.1 service. Call it before serving.
func (m *Mux) HandleJSON(s *JSONService) {
	m.json[s.TargetPrefix] = s
	m.signingNames[s.SigningName] = true
}

// Handle registers a plain route (Go 1.22 ServeMux pattern) for requests
// without X-Amz-Target, open to every caller whatever Auth says (health
// endpoints). Call it before serving.
func (m *Mux) Handle(pattern string, h http.Handler) { m.routes.Handle(pattern, h) }

// HandleSigned registers a plain route like Handle, for verified callers
// only when the Mux has Auth: the signature may be scoped to any service's
// signing name, or to "mapmesh". The handler finds the caller in the
// request's context (CallerFrom) and may read the body.
func (m *Mux) HandleSigned(pattern string, h http.Handler) {
	m.routes.Handle(pattern, m.signed(h, false))
}

// HandleAdmin registers a route like HandleSigned whose verified caller
// must also be an admin identity (mapmesh_admin): the admin endpoints see or
// change every account. Others get AccessDeniedException (403). Without
// Auth it is open, like every route.
func (m *Mux) HandleAdmin(pattern string, h http.Handler) {
	m.routes.Handle(pattern, m.signed(h, true))
}

func (m *Mux) signed(h http.Handler, admin bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.auth == nil {
			h.ServeHTTP(w, r)
			return
		}
		c, _ := CallerFrom(r.Context())
		body, err := readBody(r, m.maxBody, nil)
		if err != nil {
			writeRESTError(w, http.StatusBadRequest, m.toAWSError(c, err))
			return
		}
		service := "mapmesh"
		if s, ok := scopeService(r); ok && m.signingNames[s] {
			service = s
		}
		if aerr := m.authenticate(r, body, service, &c); aerr != nil {
			writeRESTError(w, http.StatusForbidden, aerr)
			return
		}
		if admin && !c.Admin {
			writeRESTError(w, http.StatusForbidden, &Error{Code: "AccessDeniedException",
				Message: "This endpoint needs an admin identity (mapmesh_admin = true in the credentials file)."})
			return
		}
		noteAccount(r, c.Account)
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
	})
}

// authenticate verifies r's signature for service when the Mux has Auth,
// and makes *c the identity's account and the scope's region.
func (m *Mux) authenticate(r *http.Request, body []byte, service string, c *Caller) *Error {
	if m.auth == nil {
		return nil
	}
	id, region, aerr := m.auth.Verify(r, body, service)
	if aerr != nil {
		m.log.Debug("request refused", "request_id", c.RequestID, "code", aerr.Kind.Code(), "message", aerr.Message)
		return &Error{Code: aerr.Kind.Code(), Message: aerr.Message}
	}
	c.Account, c.Region, c.AccessKey, c.Verified, c.Admin = id.Account, region, id.AccessKeyID, true, id.Admin
	return nil
}

// scopeService returns the service of the request's credential scope.
func scopeService(r *http.Request) (string, bool) {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, rest, ok := strings.Cut(auth, "Credential=")
		if !ok {
			return "", false
		}
		cred, _, _ = strings.Cut(rest, ",")
	}
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) != 5 {
		return "", false
	}
	return parts[3], true
}

// ServeHTTP implements http.Handler.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m.observe == nil {
		m.serve(w, r)
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	ra := &requestAccount{}
	r = r.WithContext(context.WithValue(r.Context(), requestAccountKey{}, ra))
	m.serve(sw, r)
	o := Observation{Service: "mapmesh", Status: sw.status, Code: w.Header().Get("X-Amzn-ErrorType"), Account: ra.account,
		RequestID: w.Header().Get("X-Amzn-Requestid"), Duration: time.Since(start)}
	if o.Status == 0 {
		o.Status = http.StatusOK
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, op, _ := strings.Cut(target, ".")
		if svc := m.json[prefix]; svc != nil && svc.Operations[op].call != nil {
			o.Service, o.Operation = svc.SigningName, op
		}
	} else if h, pattern := m.routes.Handler(r); pattern != "" && cleanPath(r.URL.Path) {
		o.Operation = pattern
		if rh, ok := h.(*restHandler); ok {
			o.Service, o.Operation = rh.svc.SigningName, rh.route.Op
		}
	}
	m.observe(o)
}

func (m *Mux) serve(w http.ResponseWriter, r *http.Request) {
	var c Caller
	var err *Error
	if m.auth != nil {
		// The signature is verified once the body is read; until then
		// the request has no account.
		c = Caller{RequestID: NewRequestID(), Region: m.defaultRegion}
	} else {
		c, err = m.caller(r)
	}
	w.Header()["X-Amzn-Requestid"] = []string{c.RequestID}
	if err != nil {
		m.refuseCredential(w, r, c, err)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		m.serveJSON11(w, r, c, target)
		return
	}
	if _, pattern := m.routes.Handler(r); pattern == "" || !cleanPath(r.URL.Path) {
		// An unclean path ("//v1/x", "/a/../b") matches no operation: the
		// ServeMux would answer it with a redirect to the clean one, which
		// an AWS client does not follow (and a redirected DELETE must not
		// be guessed at).
		m.writeJSONError(w, c, &Error{Code: "UnknownOperationException", Status: http.StatusNotFound,
			Message: "No operation matches " + r.Method + " " + r.URL.Path})
		return
	}
	m.routes.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
}

// cleanPath reports whether p is a clean absolute path, as ServeMux wants
// it: no empty, "." or ".." elements (a trailing slash is kept).
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c == p
}

// maxAccessKeyLen is IAM's bound on an access key ID.
const maxAccessKeyLen = 128

// ValidRegion reports whether s can name a region: lowercase words and a
// number, dash-separated, at most 32 bytes ("us-east-1", "us-gov-west-1",
// "eu-isoe-west-1"). It is the rule the Verifier applies to credential
// scopes (validRegion), so a region the Mux takes from an unverified scope
// is one the Verifier would take too.
func ValidRegion(s string) bool { return validRegion(s) }

// caller reads account and region from the SigV4 credential scope
// (Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...).
// The account is the access key itself when it is 12 digits, else
// DefaultAccount. A scope without five parts, or with an empty region,
// leaves the default region. A region that is not ValidRegion is
// InvalidSignatureException, and an access key longer than IAM allows is
// UnrecognizedClientException, with the Verifier's messages (see
// refuseCredential); the Caller returned with an error has only its
// RequestID set. Signatures are not checked here.
func (m *Mux) caller(r *http.Request) (Caller, *Error) {
	c := Caller{RequestID: NewRequestID(), Account: DefaultAccount, Region: m.defaultRegion}
	auth := r.Header.Get("Authorization")
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return c, nil
	}
	if i := strings.IndexAny(rest, ", "); i >= 0 {
		rest = rest[:i]
	}
	var parts [5]string // AKID/DATE/REGION/SERVICE/aws4_request, or nothing
	for i := range 4 {
		var ok bool
		if parts[i], rest, ok = strings.Cut(rest, "/"); !ok {
			return c, nil
		}
	}
	if strings.Contains(rest, "/") {
		return c, nil
	}
	parts[4] = rest
	var refused *AuthError
	switch {
	case len(parts[0]) > maxAccessKeyLen:
		refused = authErr(AuthUnknownKey, "The security token included in the request is invalid.")
	case parts[2] != "" && !validRegion(parts[2]):
		refused = authErr(AuthInvalid, "Credential should be scoped to a valid region.")
	}
	if refused != nil {
		return Caller{RequestID: c.RequestID}, &Error{Code: refused.Kind.Code(), Message: refused.Message}
	}
	c.AccessKey = parts[0]
	if isAccountID(parts[0]) {
		c.Account = parts[0]
	}
	if parts[2] != "" {
		c.Region = parts[2]
	}
	return c, nil
}

// refuseCredential answers a request whose credential scope caller
// refused, in the error shape of the request's protocol and with the status
// AWS uses for it there: AWS JSON 1.1 services answer signature errors with
// 400 and __type (as DynamoDB documents InvalidSignatureException), rest-json
// services with 403 and x-amzn-ErrorType (as Lambda does).
func (m *Mux) refuseCredential(w http.ResponseWriter, r *http.Request, c Caller, ae *Error) {
	if r.Header.Get("X-Amz-Target") != "" {
		m.writeJSONError(w, c, ae)
		return
	}
	writeRESTError(w, http.StatusForbidden, m.toAWSError(c, ae))
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 4<<20 {
		return
	}
	bufPool.Put(b)
}

// readBody reads the request body into dst, bounded by limit.
func readBody(r *http.Request, limit int64, dst []byte) ([]byte, error) {
	if r.ContentLength > limit {
		return dst, tooLarge(limit)
	}
	lr := io.LimitReader(r.Body, limit+1)
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := lr.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if int64(len(dst)) > limit {
			return dst, tooLarge(limit)
		}
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst, &Error{Code: "SerializationException", Message: "Could not read the request body"}
		}
	}
}

func tooLarge(limit int64) *Error {
	return &Error{Code: "RequestEntityTooLargeException", Status: http.StatusRequestEntityTooLarge,
		Message: "Request body is larger than the limit of " + strconv.FormatInt(limit, 10) + " bytes"}
}
