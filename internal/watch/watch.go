// Package watch serves blocking queries beside the AWS API: a client asks
// for an answer together with the index of the one it already has, and the
// server holds the request until the answer differs (or a wait passes),
// the way Consul's blocking queries work. Clients stop polling
// DiscoverInstancesRevision; a change reaches every waiting client at once.
//
//	GET /_mapmesh/v1/discover?namespace=NS&service=SVC[&index=I][&wait=D]
//	    [&query.KEY=VALUE...][&optional.KEY=VALUE...][&health=HEALTHY|UNHEALTHY|ALL|HEALTHY_OR_ELSE_ALL][&max=N]
//
// The body is DiscoverInstances' JSON answer, the X-Mapmesh-Index header
// the answer's index. Errors are Cloud Map's, in the AWS JSON 1.1 shape.
package watch

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// Waits: DefaultWait when a request gives none, MaxWait at most.
const (
	DefaultWait = 5 * time.Minute
	MaxWait     = 10 * time.Minute
)

// IndexHeader carries the index of an answer.
const IndexHeader = "X-Mapmesh-Index"

// Handler serves /_mapmesh/v1/discover.
type Handler struct {
	// CloudMap answers (cloudmap.Backend.DiscoverWait).
	CloudMap *cloudmap.Backend
	// Throttle, if set, counts each query as a DiscoverInstances of its
	// caller's account.
	Throttle *awsapi.Throttle
	// Done, closed when the server shuts down, ends every held query with
	// the current answer.
	Done <-chan struct{}

	held, answered atomic.Int64
	maxWait        time.Duration // MaxWait when zero (tests cut it)
	doneOnce       sync.Once
	done           context.Context
}

// Held returns how many queries wait now; Answered, how many were answered.
func (h *Handler) Held() int64     { return h.held.Load() }
func (h *Handler) Answered() int64 { return h.answered.Load() }

// ServeHTTP implements http.Handler. The caller (account and region) is in
// the request's context, as the Mux puts it there.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, ok := awsapi.CallerFrom(r.Context())
	if !ok {
		c = awsapi.Caller{Account: awsapi.DefaultAccount, Region: "us-east-1"}
	}
	q := r.URL.Query()
	in := &cloudmap.DiscoverInstancesInput{}
	if v := q.Get("namespace"); v != "" {
		in.NamespaceName = &v
	}
	if v := q.Get("service"); v != "" {
		in.ServiceName = &v
	}
	if v := q.Get("health"); v != "" {
		in.HealthStatus = &v
	}
	if v := q.Get("max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<20 {
			awsapi.WriteError(w, awsapi.Errorf("InvalidInput", "max %q is not a number of instances", v))
			return
		}
		n32 := int32(n)
		in.MaxResults = &n32
	}
	for k, vs := range q {
		if name, ok := strings.CutPrefix(k, "query."); ok {
			if in.QueryParameters == nil {
				in.QueryParameters = map[string]string{}
			}
			in.QueryParameters[name] = vs[0]
		} else if name, ok := strings.CutPrefix(k, "optional."); ok {
			if in.OptionalParameters == nil {
				in.OptionalParameters = map[string]string{}
			}
			in.OptionalParameters[name] = vs[0]
		}
	}
	var v awsapi.Validation
	in.Validate(&v, "")
	if err := v.Err("InvalidInput"); err != nil {
		awsapi.WriteError(w, err)
		return
	}
	wait, err := parseWait(q.Get("wait"), cmp.Or(h.maxWait, MaxWait))
	if err != nil {
		awsapi.WriteError(w, awsapi.Errorf("InvalidInput", "%s", err.Error()))
		return
	}
	index, has := uint64(0), false
	if s := q.Get("index"); s != "" {
		index, has = cloudmap.ParseIndex(s)
	}
	if terr := h.Throttle.Allow(c, "DiscoverInstances", time.Now()); terr != nil {
		awsapi.WriteError(w, terr)
		return
	}
	ctx, cancel := context.WithCancel(awsapi.WithCaller(r.Context(), c))
	defer cancel()
	if h.Done != nil {
		stop := context.AfterFunc(h.doneCtx(), cancel) // no goroutine per query
		defer stop()
	}
	h.held.Add(1)
	out, idx, err := h.CloudMap.DiscoverWait(ctx, in, index, has, wait)
	h.held.Add(-1)
	if err != nil && ctx.Err() != nil && r.Context().Err() == nil {
		// The server is shutting down: answer what there is now.
		out, idx, err = h.CloudMap.DiscoverWait(awsapi.WithCaller(context.Background(), c), in, 0, false, 0)
	}
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		awsapi.WriteError(w, err)
		return
	}
	h.answered.Add(1)
	// A woken change answers every waiter at once: their bodies come from
	// a pool rather than fresh memory each.
	buf := bodies.Get().(*[]byte)
	b := out.AppendJSON((*buf)[:0])
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set(IndexHeader, cloudmap.FormatIndex(idx))
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
	if cap(b) <= maxPooledBody {
		*buf = b
		bodies.Put(buf)
	}
}

// bodies pools answer buffers up to maxPooledBody bytes.
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBody = 1 << 20

// doneCtx is a context that ends when Done is closed; one for all queries.
func (h *Handler) doneCtx() context.Context {
	h.doneOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		h.done = ctx
		go func() {
			<-h.Done
			cancel()
		}()
	})
	return h.done
}

// parseWait reads a wait ("30s", "5m", or seconds), adds Consul's jitter (up
// to a sixteenth), so that clients woken together do not come back
// together, and caps it at maxWait.
func parseWait(s string, maxWait time.Duration) (time.Duration, error) {
	d := DefaultWait
	if s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			n, nerr := strconv.Atoi(s)
			if nerr != nil || n < 0 {
				return 0, fmt.Errorf("wait %q is not a duration (30s, 5m)", s)
			}
			d = time.Duration(n) * time.Second
		}
		if d < 0 {
			return 0, fmt.Errorf("wait %q is negative", s)
		}
	}
	d = min(d, maxWait)
	if d > 0 {
		d += rand.N(d/16 + 1)
	}
	return d, nil
}
