package console

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/mapmesh/mapmesh/internal/appmesh"
	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// Event is the data of a "changed" event: what a batch of changes touched.
// Reload means anything may have changed (a view was reloaded, or too
// much changed at once to name): read everything again.
type Event struct {
	Reload   bool             `json:"reload,omitempty"`
	CloudMap []CloudMapChange `json:"cloudmap,omitempty"`
	AppMesh  []AppMeshChange  `json:"appmesh,omitempty"`
}

// CloudMapChange names a changed namespace (ServiceID empty) or a service,
// its instances or their health.
type CloudMapChange struct {
	Account     string `json:"account"`
	Region      string `json:"region"`
	NamespaceID string `json:"namespaceId,omitempty"`
	ServiceID   string `json:"serviceId,omitempty"`
}

// AppMeshChange names a changed App Mesh resource.
type AppMeshChange struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Mesh    string `json:"mesh"`
	Kind    string `json:"kind"`
	Parent  string `json:"parent,omitempty"`
	Name    string `json:"name"`
}

// maxPending bounds the distinct changes the hub holds between two
// events; past it, the event says reload.
const maxPending = 256

// hub collects the views' changes and hands each events stream at most
// one event per coalesce interval. The views call it on their goroutines;
// it never blocks them: it records the change and wakes its own goroutine
// (run), which queues the event on every stream without waiting. A stream
// whose queue is full is dropped.
type hub struct {
	coalesce, heartbeat, writeTimeout time.Duration
	queue                             int

	kick      chan struct{} // wakes run; capacity 1
	done      chan struct{} // closed by close
	stopped   chan struct{} // closed when run returns
	closeOnce sync.Once

	mu      sync.Mutex // guards everything below
	closed  bool
	streams map[*stream]struct{}
	cm      map[CloudMapChange]bool
	am      map[AppMeshChange]bool
	reload  bool
}

// stream is one events client.
type stream struct {
	// account is the only account whose changes the stream gets; empty:
	// every account.
	account string
	events  chan []byte   // encoded events, bounded by hub.queue
	gone    chan struct{} // closed when the hub drops the stream
}

func newHub(cfg Config) *hub {
	h := &hub{coalesce: cmp.Or(cfg.Coalesce, DefaultCoalesce), heartbeat: cmp.Or(cfg.Heartbeat, DefaultHeartbeat),
		writeTimeout: cmp.Or(cfg.WriteTimeout, DefaultWriteTimeout), queue: cmp.Or(cfg.Queue, DefaultQueue),
		kick: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{}),
		streams: map[*stream]struct{}{}, cm: map[CloudMapChange]bool{}, am: map[AppMeshChange]bool{}}
	go h.run()
	return h
}

// cloudMapChanged is the Cloud Map view's subscription.
func (h *hub) cloudMapChanged(_ int64, changes []cloudmap.Change) {
	h.mu.Lock()
	if h.closed || len(h.streams) == 0 {
		h.mu.Unlock()
		return
	}
	for _, c := range changes {
		switch {
		case c == (cloudmap.Change{}) || h.pendingLocked() >= maxPending:
			h.reload = true
		default:
			h.cm[CloudMapChange(c)] = true
		}
	}
	h.mu.Unlock()
	h.wake()
}

// appMeshChanged is the App Mesh view's subscription.
func (h *hub) appMeshChanged(_ int64, changes []appmesh.Change) {
	h.mu.Lock()
	if h.closed || len(h.streams) == 0 {
		h.mu.Unlock()
		return
	}
	for _, c := range changes {
		switch {
		case c == (appmesh.Change{}) || h.pendingLocked() >= maxPending:
			h.reload = true
		default:
			h.am[AppMeshChange(c)] = true
		}
	}
	h.mu.Unlock()
	h.wake()
}

func (h *hub) pendingLocked() int { return len(h.cm) + len(h.am) }

func (h *hub) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// run sends the pending changes when woken, but not sooner than coalesce
// after the last send: a burst of changes becomes one event, then another
// one interval later. It returns when the hub closes.
func (h *hub) run() {
	defer close(h.stopped)
	var last time.Time
	for {
		select {
		case <-h.kick:
		case <-h.done:
			return
		}
		if wait := time.Until(last.Add(h.coalesce)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-h.done:
				t.Stop()
				return
			}
		}
		last = time.Now()
		h.flush()
	}
}

// flush queues the pending changes on every stream, each stream getting
// those of its account; a stream whose queue is full is dropped.
func (h *hub) flush() {
	h.mu.Lock()
	cms, ams, reload := h.cm, h.am, h.reload
	h.cm, h.am, h.reload = map[CloudMapChange]bool{}, map[AppMeshChange]bool{}, false
	streams := make([]*stream, 0, len(h.streams))
	for s := range h.streams {
		streams = append(streams, s)
	}
	h.mu.Unlock()
	if len(cms) == 0 && len(ams) == 0 && !reload {
		return
	}
	encoded := map[string][]byte{} // by stream account
	for _, s := range streams {
		msg, ok := encoded[s.account]
		if !ok {
			msg = encodeEvent(s.account, cms, ams, reload)
			encoded[s.account] = msg
		}
		if msg == nil {
			continue // nothing of its account
		}
		select {
		case s.events <- msg:
		default:
			h.drop(s)
		}
	}
}

// encodeEvent returns the "changed" event for a stream of account (empty:
// every account), or nil when nothing concerns it.
func encodeEvent(account string, cms map[CloudMapChange]bool, ams map[AppMeshChange]bool, reload bool) []byte {
	ev := Event{Reload: reload}
	for c := range cms {
		if account == "" || c.Account == account {
			ev.CloudMap = append(ev.CloudMap, c)
		}
	}
	for c := range ams {
		if account == "" || c.Account == account {
			ev.AppMesh = append(ev.AppMesh, c)
		}
	}
	if !ev.Reload && len(ev.CloudMap) == 0 && len(ev.AppMesh) == 0 {
		return nil
	}
	slices.SortFunc(ev.CloudMap, func(a, b CloudMapChange) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region), cmp.Compare(a.NamespaceID, b.NamespaceID),
			cmp.Compare(a.ServiceID, b.ServiceID))
	})
	slices.SortFunc(ev.AppMesh, func(a, b AppMeshChange) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region), cmp.Compare(a.Mesh, b.Mesh),
			cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Parent, b.Parent), cmp.Compare(a.Name, b.Name))
	})
	data, _ := json.Marshal(ev)
	return append(append([]byte("event: changed\ndata: "), data...), "\n\n"...)
}

// add registers a stream, or reports false once the hub is closed.
func (h *hub) add(account string) (*stream, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	s := &stream{account: account, events: make(chan []byte, h.queue), gone: make(chan struct{})}
	h.streams[s] = struct{}{}
	return s, true
}

// drop forgets a stream and tells its goroutine to end.
func (h *hub) drop(s *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.streams[s]; ok {
		delete(h.streams, s)
		close(s.gone)
	}
}

// remove forgets a stream that ended by itself.
func (h *hub) remove(s *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.streams, s)
}

// close ends every stream and waits for run to return.
func (h *hub) close() {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
		close(h.done)
	})
	<-h.stopped
}

// serveEvents serves GET /console/api/events: a text/event-stream of
// "changed" events (data: an Event), starting with a "hello" event, with
// a comment every heartbeat so that proxies keep the stream open. A
// verified caller gets the changes of its own account only. The stream
// ends when the client goes away, when it cannot keep up (its queue
// fills, or a write takes longer than the write timeout), and when the
// console closes.
func (c *Console) serveEvents(w http.ResponseWriter, r *http.Request) {
	h := c.events
	caller, _ := awsapi.CallerFrom(r.Context())
	account := ""
	if caller.Verified {
		account = caller.Account
	}
	s, ok := h.add(account)
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "ShuttingDown", "the server is shutting down")
		return
	}
	defer h.remove(s)
	rc := http.NewResponseController(w)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }() // for the connection's next request
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(h.writeTimeout)) // unsupported by some writers: then unbounded
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: 2000\nevent: hello\ndata: {}\n\n")) {
		return
	}
	heartbeat := time.NewTicker(h.heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case msg := <-s.events:
			if !write(msg) {
				c.log.Info("console: events client dropped: a write did not complete in time", "remote", r.RemoteAddr)
				return
			}
		case <-heartbeat.C:
			if !write([]byte(": ping\n\n")) {
				return
			}
		case <-s.gone:
			c.log.Info("console: events client dropped: it did not keep up", "remote", r.RemoteAddr)
			return
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		}
	}
}
