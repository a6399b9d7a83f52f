package xds

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/metadata"

	"github.com/mapmesh/mapmesh/internal/awsapi"
)

// clients records every open xDS stream: who it is, what it was sent and
// what it ACKed or NACKed. It is fed by the xDS server's callbacks.
type clients struct {
	mu      sync.Mutex // guards everything below
	streams map[int64]*stream
	// byKey counts the streams of each node key.
	byKey map[string]int
	// warned holds, by node key and type, the newest version whose NACK
	// was logged at warn (versions are store revisions).
	warned map[string]map[string]int64
	// waiters are WaitAcked calls in progress.
	waiters []*ackWaiter
}

// ackWaiter counts the streams that have ACKed a version of a type at
// least min, and is closed when n have.
type ackWaiter struct {
	typeURL string
	min     int64
	n, got  int
	done    chan struct{}
}

type stream struct {
	id        int64 // negative for delta streams (deltaID)
	delta     bool
	opened    time.Time
	peer      string
	signed    bool
	verified  bool
	accessKey string
	sigRegion string
	account   string // of the verified signer
	node      *core.Node
	key       string
	types     map[string]*typeStatus
}

type typeStatus struct {
	// sent maps the nonces of the last responses to their versions.
	sent      map[string]string
	lastNonce string
	version   string // last sent
	acked     string
	ackedRev  int64 // acked as a number
	ackedAt   time.Time
	nack      *NACK
	nacks     int
	requested []string
}

// NACK is a rejected response.
type NACK struct {
	Version string    `json:"version"`
	Nonce   string    `json:"nonce"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

func newClients() *clients {
	return &clients{streams: map[int64]*stream{}, byKey: map[string]int{}, warned: map[string]map[string]int64{}}
}

// open records a new stream, with the SigV4 credential scope its metadata
// carries, if any (App Mesh's Envoy image signs its xDS calls). caller is
// the stream's verified caller when the server has a Verifier; without
// one, the scope is read but the signature is not verified.
func (c *clients) open(ctx context.Context, id int64, delta bool, caller awsapi.Caller) {
	s := &stream{id: id, delta: delta, opened: time.Now(), types: map[string]*typeStatus{}}
	s.peer = peerOf(ctx)
	if caller.Verified {
		s.signed, s.verified = true, true
		s.accessKey, s.sigRegion, s.account = caller.AccessKey, caller.Region, caller.Account
	} else if md, ok := metadata.FromIncomingContext(ctx); ok {
		if auth := md.Get("authorization"); len(auth) > 0 && strings.HasPrefix(auth[0], "AWS4-HMAC-SHA256") {
			s.signed = true
			s.accessKey, s.sigRegion, _, _ = credentialScope(auth[0])
		}
	}
	c.mu.Lock()
	c.streams[id] = s
	c.mu.Unlock()
}

// close forgets a stream and returns its node key and how many streams
// that key has left.
func (c *clients) close(id int64) (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.streams[id]
	if s == nil {
		return "", 0
	}
	delete(c.streams, id)
	if s.key == "" {
		return "", 0
	}
	c.byKey[s.key]--
	n := c.byKey[s.key]
	if n <= 0 {
		delete(c.byKey, s.key)
		delete(c.warned, s.key)
	}
	return s.key, n
}

// streamsOf returns how many streams a node key has.
func (c *clients) streamsOf(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byKey[key]
}

// reply is what a request said of the responses before it.
type reply struct {
	// acked: the request ACKed a response.
	acked bool
	// rejected is the version a NACK rejected ("" if its nonce is
	// unknown); firstNACK is set for the first NACK of that version of its
	// type by the node key, the one worth a warning.
	rejected  string
	firstNACK bool
}

// request records a request: the stream's node on the first one, and an
// ACK or NACK (errMsg set) when it answers a response.
func (c *clients) request(id int64, node *core.Node, key, typeURL, version, nonce string, names []string, errMsg *string) reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.streams[id]
	if s == nil {
		return reply{}
	}
	if s.key == "" && key != "" {
		s.node, s.key = node, key
		c.byKey[key]++
	}
	t := s.types[typeURL]
	if t == nil {
		t = &typeStatus{sent: map[string]string{}}
		s.types[typeURL] = t
	}
	t.requested = names
	v, ok := t.sent[nonce]
	ok = ok && nonce != ""
	if errMsg != nil {
		t.nacks++
		if ok {
			t.nack = &NACK{Version: v, Nonce: nonce, Message: *errMsg, At: time.Now()}
		}
		return reply{rejected: v, firstNACK: c.warnLocked(s.key, typeURL, v)}
	}
	if !ok {
		return reply{}
	}
	old := t.ackedRev
	t.acked, t.ackedAt = version, time.Now()
	if t.acked == "" {
		t.acked = v
	}
	t.ackedRev, _ = strconv.ParseInt(t.acked, 10, 64)
	for _, w := range c.waiters {
		if w.typeURL == typeURL && old < w.min && t.ackedRev >= w.min {
			w.got++
			if w.got == w.n {
				close(w.done)
			}
		}
	}
	return reply{acked: true}
}

// warnLocked reports whether a NACK of version of typeURL by node key
// deserves a warning: it is the first NACK of a version newer than those
// warned of since the key's streams opened (versions only grow, so each is
// warned of once however often its NACK repeats).
func (c *clients) warnLocked(key, typeURL, version string) bool {
	rev, _ := strconv.ParseInt(version, 10, 64) // unknown: 0
	w := c.warned[key]
	if w == nil {
		w = map[string]int64{}
		c.warned[key] = w
	}
	if last, ok := w[typeURL]; ok && rev <= last {
		return false
	}
	w[typeURL] = rev
	return true
}

// response records a response about to be sent.
func (c *clients) response(id int64, typeURL, version, nonce string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.streams[id]
	if s == nil {
		return
	}
	t := s.types[typeURL]
	if t == nil {
		t = &typeStatus{sent: map[string]string{}}
		s.types[typeURL] = t
	}
	if len(t.sent) >= 8 {
		clear(t.sent)
	}
	t.sent[nonce], t.lastNonce, t.version = version, nonce, version
}

// wait registers a waiter for n streams that have ACKed a version of
// typeURL at least minVersion (versions are store revisions); cancel
// forgets it.
func (c *clients) wait(typeURL string, minVersion int64, n int) (w *ackWaiter, cancel func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w = &ackWaiter{typeURL: typeURL, min: minVersion, n: n, done: make(chan struct{})}
	for _, s := range c.streams {
		if t := s.types[typeURL]; t != nil && t.ackedRev >= minVersion {
			w.got++
		}
	}
	if w.got >= n {
		close(w.done)
		return w, func() {}
	}
	c.waiters = append(c.waiters, w)
	return w, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.waiters = slices.DeleteFunc(c.waiters, func(x *ackWaiter) bool { return x == w })
	}
}

// Client is one connected xDS stream, as GET /_mapmesh/xds/clients shows it.
type Client struct {
	// Stream is go-control-plane's number of the stream; state-of-the-world
	// and delta streams (Delta) are numbered apart, each from 1.
	Stream    int64  `json:"stream"`
	Delta     bool   `json:"delta,omitempty"`
	NodeID    string `json:"nodeId"`
	Cluster   string `json:"cluster,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
	Proxyless bool   `json:"proxyless"`
	// Key is the snapshot the stream is served from ("unknown" for a node
	// id that names no App Mesh resource).
	Key         string    `json:"key"`
	Peer        string    `json:"peer,omitempty"`
	ConnectedAt time.Time `json:"connectedAt"`
	// SigV4 is set when the stream's metadata carried a SigV4
	// Authorization: verified with Config.Verifier, else accepted as it
	// is.
	SigV4     *SigV4                    `json:"sigv4,omitempty"`
	Resources map[string]ResourceStatus `json:"resources"`
	// NACKs counts the stream's NACKs, of every type.
	NACKs int `json:"nacks"`
}

// SigV4 is the credential scope a signed stream presented.
type SigV4 struct {
	AccessKey string `json:"accessKey"`
	Region    string `json:"region"`
	Verified  bool   `json:"verified"`
	// Account is the verified signer's account.
	Account string `json:"account,omitempty"`
}

// ResourceStatus is the state of one resource type on a stream.
type ResourceStatus struct {
	// Sent is the version of the last response; Acked the last version
	// the client ACKed.
	Sent      string    `json:"sent,omitempty"`
	Acked     string    `json:"acked,omitempty"`
	AckedAt   time.Time `json:"ackedAt,omitzero"`
	Requested []string  `json:"requested,omitempty"`
	LastNACK  *NACK     `json:"lastNack,omitempty"`
	// NACKs counts the requests of this type that rejected a response.
	NACKs int `json:"nacks,omitempty"`
}

var typeNames = map[string]string{resource.ListenerType: "listeners", resource.RouteType: "routes",
	resource.ClusterType: "clusters", resource.EndpointType: "endpoints"}

// list returns the streams, sorted by node id then stream.
func (c *clients) list() []Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Client, 0, len(c.streams))
	for _, s := range c.streams {
		id := s.id
		if s.delta {
			id = -id // go-control-plane's number (see deltaID)
		}
		cl := Client{Stream: id, Delta: s.delta, NodeID: s.node.GetId(), Cluster: s.node.GetCluster(), UserAgent: s.node.GetUserAgentName(),
			Proxyless: isProxyless(s.node), Key: s.key, Peer: s.peer, ConnectedAt: s.opened, Resources: map[string]ResourceStatus{}}
		if s.signed {
			cl.SigV4 = &SigV4{AccessKey: s.accessKey, Region: s.sigRegion, Verified: s.verified, Account: s.account}
		}
		for t, ts := range s.types {
			name := typeNames[t]
			if name == "" {
				name = t
			}
			cl.Resources[name] = ResourceStatus{Sent: ts.version, Acked: ts.acked, AckedAt: ts.ackedAt, Requested: ts.requested, LastNACK: ts.nack,
				NACKs: ts.nacks}
			cl.NACKs += ts.nacks
		}
		out = append(out, cl)
	}
	slices.SortFunc(out, func(a, b Client) int {
		if a.NodeID != b.NodeID {
			return compareStrings(a.NodeID, b.NodeID)
		}
		if a.Delta != b.Delta {
			if a.Delta {
				return 1
			}
			return -1
		}
		return int(a.Stream - b.Stream)
	})
	return out
}

// ClientsHandler serves GET /_mapmesh/xds/clients: the connected xDS
// clients as JSON. s may be nil (xDS disabled).
func ClientsHandler(s *Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		body := struct {
			Enabled bool     `json:"enabled"`
			Addr    string   `json:"addr,omitempty"`
			Clients []Client `json:"clients"`
		}{Clients: []Client{}}
		if s != nil {
			body.Enabled, body.Clients = true, s.Clients()
			if a := s.Addr(); a != nil {
				body.Addr = a.String()
			}
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(body)
	})
}
