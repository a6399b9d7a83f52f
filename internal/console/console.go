package console

import (
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/xds"
	"github.com/mapmesh/mapmesh/web"
)

// CloudMap is the Cloud Map read model the console reads
// (*cloudmap.Backend). The read methods and Subscribe's callback are
// called from request goroutines and the view's goroutine, never with a
// lock of the console held.
type CloudMap interface {
	Subscribe(fn func(rev int64, changes []cloudmap.Change))
	Namespaces(fn func(cloudmap.NamespaceInfo))
	Namespace(account, region, id string) (cloudmap.NamespaceInfo, bool)
	Services(account, region, nsID string) []cloudmap.ServiceInfo
	Service(account, region, id string) (cloudmap.ServiceInfo, []cloudmap.InstanceInfo, bool)
	OperationsPage(ctx context.Context, account, region, before string, limit int) ([]*cloudmap.Operation, bool, error)
}

var _ CloudMap = (*cloudmap.Backend)(nil)

// AppMesh is the App Mesh read model the console reads (*appmesh.Backend),
// called as CloudMap is.
type AppMesh interface {
	Subscribe(fn func(rev int64, changes []appmesh.Change))
	Meshes(fn func(account, region, mesh string))
	Mesh(account, region, name string) (appmesh.MeshContents, bool)
}

var _ AppMesh = (*appmesh.Backend)(nil)

// XDS lists the connected xDS clients (*xds.Server).
type XDS interface {
	Clients() []xds.Client
}

var _ XDS = (*xds.Server)(nil)

// Defaults of Config.
const (
	DefaultCoalesce  = 200 * time.Millisecond
	DefaultHeartbeat = 15 * time.Second
	// DefaultWriteTimeout bounds each write to an events stream: a client
	// that takes longer to take an event is dropped.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultQueue is how many events may wait for one stream.
	DefaultQueue = 16
)

// Config configures a Console. CloudMap and AppMesh are required.
type Config struct {
	CloudMap CloudMap
	AppMesh  AppMesh
	// XDS, if set, lists the xDS clients; nil when xDS is off.
	XDS    XDS
	Logger *slog.Logger
	// Coalesce is the least time between two events on a stream
	// (DefaultCoalesce when 0); Heartbeat how often an idle stream gets
	// a comment, so proxies keep it open (DefaultHeartbeat); WriteTimeout
	// bounds each write to a stream (DefaultWriteTimeout); Queue how many
	// events may wait for one stream before it is dropped (DefaultQueue).
	Coalesce, Heartbeat, WriteTimeout time.Duration
	Queue                             int
	// Now is the clock for health status (time.Now when nil).
	Now func() time.Time
}

// Console serves the console. Its event hub runs from New until Close.
type Console struct {
	cm     CloudMap
	am     AppMesh
	xds    XDS
	log    *slog.Logger
	now    func() time.Time
	events *hub
}

// New returns a Console reading cfg's views. It subscribes to both views
// and starts the event hub; Close stops it.
func New(cfg Config) *Console {
	c := &Console{cm: cfg.CloudMap, am: cfg.AppMesh, xds: cfg.XDS, log: cfg.Logger, now: cfg.Now}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.events = newHub(cfg)
	c.cm.Subscribe(c.events.cloudMapChanged)
	c.am.Subscribe(c.events.appMeshChanged)
	return c
}

// Close ends every events stream and stops the hub, so that an HTTP
// server's Shutdown does not wait for the streams. It is safe to call
// more than once. The views keep calling the console's subscriptions,
// which then do nothing.
func (c *Console) Close() { c.events.close() }

// Register adds the console's routes to mux: the JSON API as signed routes
// (verified when mux has Auth), the assets and the /console redirect as
// open ones (they hold no data).
func (c *Console) Register(mux *awsapi.Mux) {
	for _, r := range []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"GET /console/api/accounts", c.accounts},
		{"GET /console/api/namespaces", c.namespaces},
		{"GET /console/api/namespaces/{id}", c.namespace},
		{"GET /console/api/services/{id}", c.service},
		{"GET /console/api/operations", c.operations},
		{"GET /console/api/meshes", c.meshes},
		{"GET /console/api/meshes/{name}", c.mesh},
		{"GET /console/api/meshes/{name}/graph", c.graph},
		{"GET /console/api/xds/clients", c.xdsClients},
		{"GET /console/api/events", c.serveEvents},
	} {
		mux.HandleSigned(r.pattern, r.h)
	}
	mux.Handle("GET /console/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", "no console API at "+r.URL.Path)
	}))
	mux.Handle("GET /console/", assets(web.FS))
	mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
}

// assets serves the embedded files under /console/, with a content
// security policy that allows nothing from elsewhere.
func assets(files fs.FS) http.Handler {
	fileServer := http.StripPrefix("/console/", http.FileServerFS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
}

// scope is the account and region a request reads.
type scope struct {
	account, region string
	// own is set when the caller's signature was verified: it may read
	// its own account only.
	own bool
}

// scopeOf returns the account and region of ?account= and ?region=,
// defaulting to the caller's. A verified caller may name only its own
// account (any region); otherwise any account may be named.
func scopeOf(r *http.Request) (scope, *apiError) {
	c, _ := awsapi.CallerFrom(r.Context())
	q := r.URL.Query()
	s := scope{account: q.Get("account"), region: q.Get("region"), own: c.Verified}
	switch {
	case s.own && s.account != "" && s.account != c.Account:
		return s, &apiError{http.StatusForbidden, "AccessDeniedException", "the console shows only the account of the identity that signed the request"}
	case s.account == "":
		s.account = c.Account
	}
	if s.account == "" {
		s.account = awsapi.DefaultAccount
	}
	if s.region == "" {
		s.region = c.Region
	}
	if !isAccountID(s.account) {
		return s, &apiError{http.StatusBadRequest, "InvalidParameter", "account must be 12 digits"}
	}
	if !awsapi.ValidRegion(s.region) {
		return s, &apiError{http.StatusBadRequest, "InvalidParameter", "region is not a region name"}
	}
	return s, nil
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

// apiError is an error answer: {"code": ..., "message": ...}.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) write(w http.ResponseWriter) { writeError(w, e.status, e.code, e.message) }

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"code": code, "message": message})
}

func notFound(what, id string) *apiError {
	return &apiError{http.StatusNotFound, "NotFound", what + " " + id + " not found"}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// Account is an account and the regions where it has Cloud Map namespaces
// or meshes.
type Account struct {
	Account string   `json:"account"`
	Regions []string `json:"regions"`
}

// accounts serves GET /console/api/accounts: how the console is
// authenticated, who the caller is, and the accounts and regions it may
// choose from (its own only when verified). The caller's own account and
// region are always listed.
func (c *Console) accounts(w http.ResponseWriter, r *http.Request) {
	caller, _ := awsapi.CallerFrom(r.Context())
	if caller.Account == "" {
		caller.Account = awsapi.DefaultAccount
	}
	regions := map[string]map[string]bool{}
	add := func(account, region string) {
		if caller.Verified && account != caller.Account {
			return
		}
		if regions[account] == nil {
			regions[account] = map[string]bool{}
		}
		regions[account][region] = true
	}
	add(caller.Account, caller.Region)
	c.cm.Namespaces(func(ns cloudmap.NamespaceInfo) { add(ns.Account, ns.Region) })
	c.am.Meshes(func(account, region, _ string) { add(account, region) })
	body := struct {
		Auth     string    `json:"auth"`
		Caller   any       `json:"caller"`
		Accounts []Account `json:"accounts"`
		XDS      bool      `json:"xds"`
	}{Auth: "none", XDS: c.xds != nil, Accounts: []Account{}}
	if caller.Verified {
		body.Auth = "sigv4"
	}
	body.Caller = struct {
		Account   string `json:"account"`
		Region    string `json:"region"`
		AccessKey string `json:"accessKey,omitempty"`
	}{caller.Account, caller.Region, caller.AccessKey}
	for account, rs := range regions {
		a := Account{Account: account}
		for region := range rs {
			a.Regions = append(a.Regions, region)
		}
		slices.Sort(a.Regions)
		body.Accounts = append(body.Accounts, a)
	}
	slices.SortFunc(body.Accounts, func(a, b Account) int { return strings.Compare(a.Account, b.Account) })
	writeJSON(w, http.StatusOK, body)
}
