package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	amsdk "github.com/aws/aws-sdk-go-v2/service/appmesh"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// eventBound is how soon an event must follow a change: the coalescing
// interval, plus room for a loaded machine.
const eventBound = 2 * time.Second

// changed returns the next "changed" event within d, decoded.
func changed(t *testing.T, events <-chan sseEvent, d time.Duration) (Event, bool) {
	t.Helper()
	out, _, ok := changedAt(t, events, d)
	return out, ok
}

// changedAt is changed, also returning when the event was read.
func changedAt(t *testing.T, events <-chan sseEvent, d time.Duration) (Event, time.Time, bool) {
	t.Helper()
	ev, ok := next(t, events, "changed", d)
	if !ok {
		return Event{}, time.Time{}, false
	}
	var out Event
	if err := json.Unmarshal([]byte(ev.Data), &out); err != nil {
		t.Fatalf("changed event %q: %v", ev.Data, err)
	}
	return out, ev.At, true
}

// waitFor waits up to eventBound for a changed event that satisfies ok,
// and fails the test naming what it waited for otherwise.
func waitFor(t *testing.T, events <-chan sseEvent, what string, ok func(Event) bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(eventBound)
	for {
		ev, got := changed(t, events, time.Until(deadline))
		if !got {
			t.Fatalf("no changed event for %s within %v", what, eventBound)
		}
		if ok(ev) {
			return time.Since(start)
		}
	}
}

func namesService(id string) func(Event) bool {
	return func(ev Event) bool {
		for _, c := range ev.CloudMap {
			if c.ServiceID == id {
				return true
			}
		}
		return false
	}
}

// TestEventsRegisterAndHealth: a stream starts with hello, and gets an
// event naming the service soon after an instance is registered and after
// its health flips.
func TestEventsRegisterAndHealth(t *testing.T) {
	e := newEnv(t, false, Config{})
	_, svcID := e.healthChecked(anonymous, "live.local")
	events, resp := openEvents(t, e.request(anonymous, "/console/api/events"))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET events = %d %q; want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, ok := next(t, events, "hello", eventBound); !ok {
		t.Fatal("no hello event")
	}

	_, err := e.sd(anonymous).RegisterInstance(context.Background(), &sd.RegisterInstanceInput{ServiceId: &svcID,
		InstanceId: aws.String("i-1"), Attributes: map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"}})
	check(t, err)
	took := waitFor(t, events, "RegisterInstance", namesService(svcID))
	t.Logf("event %v after RegisterInstance", took)

	check(t, e.cm.SetHealth(context.Background(), awsapi.DefaultAccount, "us-east-1", svcID, "i-1", 0, "UNHEALTHY", "refused"))
	took = waitFor(t, events, "the health flip", namesService(svcID))
	t.Logf("event %v after the health flip", took)

	_, err = e.appMesh(anonymous).CreateMesh(context.Background(), &amsdk.CreateMeshInput{MeshName: aws.String("live")})
	check(t, err)
	waitFor(t, events, "CreateMesh", func(ev Event) bool {
		return len(ev.AppMesh) == 1 && ev.AppMesh[0] == AppMeshChange{Account: awsapi.DefaultAccount, Region: "us-east-1",
			Mesh: "live", Kind: "mesh", Name: "live"}
	})
}

// TestEventsCoalesce: a burst of changes becomes few events, at least the
// coalescing interval apart, that name every change.
func TestEventsCoalesce(t *testing.T) {
	const interval = 300 * time.Millisecond
	e := newEnv(t, false, Config{Coalesce: interval})
	_, svcID := e.healthChecked(anonymous, "burst.local")
	events, _ := openEvents(t, e.request(anonymous, "/console/api/events"))
	next(t, events, "hello", eventBound)

	const n = 20
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.sd(anonymous).RegisterInstance(context.Background(), &sd.RegisterInstanceInput{ServiceId: &svcID,
				InstanceId: aws.String(fmt.Sprint("i-", i)), Attributes: map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"}})
			check(t, err)
		}()
	}
	wg.Wait()
	burst := time.Since(start)
	var times []time.Time
	for {
		ev, at, ok := changedAt(t, events, 2*interval)
		if !ok {
			break
		}
		if !namesService(svcID)(ev) {
			t.Errorf("event %+v does not name the service", ev)
		}
		times = append(times, at)
	}
	if len(times) == 0 {
		t.Fatal("no event after a burst of registrations")
	}
	// Read times, not send times: a late read of one event shortens the
	// gap to the next, so allow half an interval of delivery jitter.
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < interval/2 {
			t.Errorf("events %d and %d came %v apart; want at least %v", i-1, i, gap, interval)
		}
	}
	// The burst took burst; events can be no more frequent than one an interval.
	if max := int(burst/interval) + 2; len(times) > max {
		t.Errorf("%d events for %d changes in %v; want at most %d", len(times), n, burst, max)
	}
	t.Logf("%d registrations in %v: %d events", n, burst, len(times))
}

// TestEventsAccountScoped: with sigv4 a stream gets the changes of its
// identity's account only, and a presigned URL opens it (EventSource
// cannot sign headers).
func TestEventsAccountScoped(t *testing.T) {
	e := newEnv(t, true, Config{})
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/console/api/events", nil)
	check(t, err)
	q := req.URL.Query()
	q.Set("X-Amz-Expires", "60")
	req.URL.RawQuery = q.Encode()
	sum := sha256.Sum256(nil)
	url, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: one.key, SecretAccessKey: one.secret},
		req, hex.EncodeToString(sum[:]), "mapmesh", one.region, time.Now())
	check(t, err)
	req, err = http.NewRequest(http.MethodGet, url, nil)
	check(t, err)
	events, resp := openEvents(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("GET presigned events = %d; want 200", resp.StatusCode)
	}
	next(t, events, "hello", eventBound)

	e.namespace(two, "two.local")
	e.namespace(one, "one.local")
	ev, ok := changed(t, events, eventBound)
	if !ok {
		t.Fatal("no event after a change in the stream's account")
	}
	for _, c := range ev.CloudMap {
		if c.Account != accountOne {
			t.Errorf("stream of %s got a change of %s: %+v", accountOne, c.Account, c)
		}
	}
	if len(ev.CloudMap) == 0 {
		t.Errorf("event %+v; want the namespace of %s", ev, accountOne)
	}
}

// blockingWriter is a ResponseWriter whose writes block until release is
// closed: a client that reads nothing.
type blockingWriter struct {
	header  http.Header
	release chan struct{}
	writing chan struct{} // closed on the first write
	once    sync.Once
}

func (w *blockingWriter) Header() http.Header { return w.header }
func (w *blockingWriter) WriteHeader(int)     {}
func (w *blockingWriter) Write(b []byte) (int, error) {
	w.once.Do(func() { close(w.writing) })
	<-w.release
	return 0, io.ErrClosedPipe
}
func (w *blockingWriter) Flush() {}

// TestEventsSlowClientDropped: a stream that takes nothing is dropped once
// its queue fills, while the views go on applying changes unhindered, and
// other streams still get their events.
func TestEventsSlowClientDropped(t *testing.T) {
	e := newEnv(t, false, Config{Coalesce: time.Millisecond, Queue: 2})
	_, svcID := e.healthChecked(anonymous, "slow.local")
	w := &blockingWriter{header: http.Header{}, release: make(chan struct{}), writing: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		req := e.request(anonymous, "/console/api/events")
		e.console.serveEvents(w, req.WithContext(awsapi.WithCaller(req.Context(), awsapi.Caller{Account: awsapi.DefaultAccount})))
	}()
	defer func() {
		close(w.release)
		select {
		case <-served:
		case <-time.After(eventBound):
			t.Error("the slow stream's handler did not return once its write failed")
		}
	}()
	<-w.writing // the handler is stuck writing hello
	good, _ := openEvents(t, e.request(anonymous, "/console/api/events"))
	next(t, good, "hello", eventBound)

	ctx := context.Background()
	start := time.Now()
	for i := range 30 {
		_, err := e.sd(anonymous).RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: &svcID, InstanceId: aws.String(fmt.Sprint("i-", i)),
			Attributes: map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"}})
		check(t, err)
		e.sync() // the view applied it, so the hub was called
		time.Sleep(2 * time.Millisecond)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("30 registrations with a stuck stream took %v", took)
	}
	deadline := time.Now().Add(eventBound)
	for e.console.events.streamCount() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams after the stuck one's queue filled; want it dropped, the good one kept", e.console.events.streamCount())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := changed(t, good, eventBound); !ok {
		t.Error("the good stream got no event")
	}
}

// streamCount returns how many streams the hub serves.
func (h *hub) streamCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

// TestEventsEnd: a stream ends when its client goes away, and every stream
// ends when the console closes (a server's shutdown), after which no new
// stream is accepted.
func TestEventsEnd(t *testing.T) {
	e := newEnv(t, false, Config{Heartbeat: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	gone, _ := openEvents(t, e.request(anonymous, "/console/api/events").WithContext(ctx))
	next(t, gone, "hello", eventBound)
	if _, ok := next(t, gone, ":", eventBound); !ok {
		t.Error("no heartbeat comment within the bound")
	}
	kept, _ := openEvents(t, e.request(anonymous, "/console/api/events"))
	next(t, kept, "hello", eventBound)
	cancel()
	deadline := time.Now().Add(eventBound)
	for e.console.events.streamCount() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams after a client went away; want 1", e.console.events.streamCount())
		}
		time.Sleep(10 * time.Millisecond)
	}

	e.console.Close()
	select {
	case _, open := <-drain(kept):
		if open {
			t.Error("stream still open after Close")
		}
	case <-time.After(eventBound):
		t.Fatal("stream did not end on Close")
	}
	code, b := e.get(anonymous, "/console/api/events")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(b), "ShuttingDown") {
		t.Errorf("GET events after Close = %d %s; want 503 ShuttingDown", code, b)
	}
}

// drain returns a channel closed when events ends.
func drain(events <-chan sseEvent) <-chan sseEvent {
	out := make(chan sseEvent)
	go func() {
		for range events {
		}
		close(out)
	}()
	return out
}

// TestHubNeverBlocks: the views' callbacks return at once whatever the
// streams do, and too many distinct changes become a reload.
func TestHubNeverBlocks(t *testing.T) {
	h := newHub(Config{Coalesce: time.Hour, Queue: 1})
	defer h.close()
	s, _ := h.add("")
	change := func(i int) []cloudmap.Change {
		return []cloudmap.Change{{Account: awsapi.DefaultAccount, Region: "us-east-1", ServiceID: fmt.Sprint("srv-", i)}}
	}
	h.cloudMapChanged(0, change(0))
	<-s.events // sent at once; the next send waits an hour
	start := time.Now()
	for i := range 10 * maxPending {
		h.cloudMapChanged(int64(i), change(i))
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("%d callbacks took %v", 10*maxPending, took)
	}
	h.mu.Lock()
	reload, pending := h.reload, h.pendingLocked()
	h.mu.Unlock()
	if !reload || pending > maxPending {
		t.Errorf("after %d distinct changes: reload %v, %d pending; want reload, at most %d pending", 10*maxPending, reload, pending, maxPending)
	}
	h.flush()
	if msg := <-s.events; !strings.Contains(string(msg), `"reload":true`) {
		t.Errorf("event after too many changes = %s; want reload", msg)
	}
	h.cloudMapChanged(1, change(1))
	h.flush()
	h.cloudMapChanged(2, change(2))
	h.flush() // the queue of 1 is full: dropped
	select {
	case <-s.gone:
	default:
		t.Error("a stream whose queue is full was not dropped")
	}
}
