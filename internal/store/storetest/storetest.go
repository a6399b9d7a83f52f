package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mapmesh/mapmesh/internal/store"
)

// waitTimeout bounds every wait for a watch event or a channel close, so a
// backend that loses an event fails instead of hanging.
const waitTimeout = 10 * time.Second

// quietPeriod is how long a test waits to make sure nothing more arrives.
const quietPeriod = 50 * time.Millisecond

type test struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// Run runs the conformance suite. open must return a new store whose key
// space is empty; Run closes it at the end of each subtest (ignoring the
// error of a second Close).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	var tests []test
	tests = append(tests, kvTests...)
	tests = append(tests, pageTests...)
	tests = append(tests, scanTests...)
	tests = append(tests, txnTests...)
	tests = append(tests, watchTests...)
	tests = append(tests, progressTests...)
	tests = append(tests, concurrencyTests...)
	tests = append(tests, closeTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
}

// mustTxn runs a transaction that must succeed and returns its revision.
func mustTxn(t testing.TB, s store.Store, conds []store.Cond, ops ...store.Op) int64 {
	t.Helper()
	res, err := s.Txn(context.Background(), conds, ops)
	if err != nil {
		t.Fatalf("Txn(%v, %v) error = %v; want nil", conds, opsString(ops), err)
	}
	return res.Rev
}

// mustPut puts key=value pairs in one transaction and returns its revision.
func mustPut(t testing.TB, s store.Store, kvs ...string) int64 {
	t.Helper()
	if len(kvs)%2 != 0 {
		t.Fatalf("mustPut: odd number of arguments")
	}
	var ops []store.Op
	for i := 0; i < len(kvs); i += 2 {
		ops = append(ops, store.Put(kvs[i], []byte(kvs[i+1])))
	}
	res, err := s.Txn(context.Background(), nil, ops)
	if err != nil || !res.Changed {
		t.Fatalf("Txn(%v) = %+v, %v; want Changed, nil", opsString(ops), res, err)
	}
	return res.Rev
}

func mustGet(t testing.TB, s store.Store, key string) store.KV {
	t.Helper()
	kv, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q) error = %v; want nil", key, err)
	}
	return kv
}

func mustRev(t testing.TB, s store.Store) int64 {
	t.Helper()
	rev, err := s.Rev(context.Background())
	if err != nil {
		t.Fatalf("Rev() error = %v; want nil", err)
	}
	return rev
}

func mustList(t testing.TB, s store.Store, prefix string) ([]store.KV, int64) {
	t.Helper()
	kvs, rev, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatalf("List(%q) error = %v; want nil", prefix, err)
	}
	return kvs, rev
}

// checkRev fails the test unless the store revision is want.
func checkRev(t testing.TB, s store.Store, want int64) {
	t.Helper()
	if got := mustRev(t, s); got != want {
		t.Errorf("Rev() = %d; want %d", got, want)
	}
}

// checkAbsent fails the test unless key does not exist.
func checkAbsent(t testing.TB, s store.Store, key string) {
	t.Helper()
	kv, err := s.Get(context.Background(), key)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(%q) = %+v, %v; want ErrNotFound", key, kv, err)
	}
}

// kvOpts compares values by content: nil and empty are the same.
var kvOpts = []cmp.Option{cmpopts.EquateEmpty(), cmpopts.EquateErrors()}

// recv returns the next batch from ch, failing the test on timeout or close.
func recv(t testing.TB, ch <-chan []store.Event) []store.Event {
	t.Helper()
	select {
	case b, ok := <-ch:
		if !ok {
			t.Fatalf("watch channel closed; want a batch")
		}
		return b
	case <-time.After(waitTimeout):
		t.Fatalf("no watch batch after %v", waitTimeout)
	}
	return nil
}

// recvBatch receives the next batch and compares it with want, ignoring the
// order of events within the batch.
func recvBatch(t testing.TB, ch <-chan []store.Event, want ...store.Event) {
	t.Helper()
	got := recv(t, ch)
	if diff := cmp.Diff(sortEvents(want), sortEvents(got), kvOpts...); diff != "" {
		t.Errorf("watch batch mismatch (-want +got):\n%s", diff)
	}
}

// recvNone fails the test if ch delivers anything within quietPeriod.
func recvNone(t testing.TB, ch <-chan []store.Event) {
	t.Helper()
	select {
	case b, ok := <-ch:
		if !ok {
			t.Errorf("watch channel closed; want it open and quiet")
			return
		}
		t.Errorf("unexpected watch batch %s", eventsString(b))
	case <-time.After(quietPeriod):
	}
}

// recvErr waits for the event carrying an error, then for the channel to
// close, and returns the batches before it and the error.
func recvErr(t testing.TB, ch <-chan []store.Event) ([][]store.Event, error) {
	t.Helper()
	var before [][]store.Event
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case b, ok := <-ch:
			if !ok {
				t.Fatalf("watch channel closed without an error event")
			}
			if len(b) == 1 && b[0].Err != nil {
				err := b[0].Err
				select {
				case extra, ok := <-ch:
					if ok {
						t.Errorf("watch delivered %s after error %v; want close", eventsString(extra), err)
					}
				case <-timer.C:
					t.Fatalf("watch channel not closed %v after error %v", waitTimeout, err)
				}
				return before, err
			}
			for _, ev := range b {
				if ev.Err != nil {
					t.Errorf("error event %v not alone in its batch %s", ev.Err, eventsString(b))
				}
			}
			before = append(before, b)
		case <-timer.C:
			t.Fatalf("no error event after %v", waitTimeout)
		}
	}
}

// recvClosed drains ch until it closes and returns what it delivered.
func recvClosed(t testing.TB, ch <-chan []store.Event) [][]store.Event {
	t.Helper()
	var got [][]store.Event
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case b, ok := <-ch:
			if !ok {
				return got
			}
			got = append(got, b)
		case <-timer.C:
			t.Fatalf("watch channel not closed after %v", waitTimeout)
		}
	}
}

func sortEvents(evs []store.Event) []store.Event {
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b store.Event) int { return strings.Compare(a.KV.Key, b.KV.Key) })
	return evs
}

func putEvent(rev int64, key, value string, createRev int64, prev []byte) store.Event {
	return store.Event{
		Type: store.EventPut,
		Rev:  rev,
		KV:   store.KV{Key: key, Value: []byte(value), CreateRevision: createRev, ModRevision: rev},
		Prev: prev,
	}
}

func deleteEvent(rev int64, key string, prev []byte) store.Event {
	return store.Event{
		Type: store.EventDelete,
		Rev:  rev,
		KV:   store.KV{Key: key, ModRevision: rev},
		Prev: prev,
	}
}

func eventsString(evs []store.Event) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, ev := range evs {
		if i > 0 {
			b.WriteString(", ")
		}
		switch {
		case ev.Err != nil:
			fmt.Fprintf(&b, "err=%v", ev.Err)
		case ev.Type == store.EventPut:
			fmt.Fprintf(&b, "put@%d %s=%q", ev.Rev, ev.KV.Key, ev.KV.Value)
		case ev.Type == store.EventDelete:
			fmt.Fprintf(&b, "delete@%d %s", ev.Rev, ev.KV.Key)
		default:
			fmt.Fprintf(&b, "type%d@%d %s", ev.Type, ev.Rev, ev.KV.Key)
		}
	}
	b.WriteByte(']')
	return b.String()
}

func opsString(ops []store.Op) string {
	if len(ops) > 8 {
		return fmt.Sprintf("[%d ops]", len(ops))
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, op := range ops {
		if i > 0 {
			b.WriteString(" ")
		}
		switch op.Type {
		case store.OpPut:
			fmt.Fprintf(&b, "put(%s)", op.Key)
		case store.OpDelete:
			fmt.Fprintf(&b, "delete(%s)", op.Key)
		case store.OpDeletePrefix:
			fmt.Fprintf(&b, "deleteprefix(%s)", op.Key)
		default:
			fmt.Fprintf(&b, "op%d(%s)", op.Type, op.Key)
		}
	}
	b.WriteByte(']')
	return b.String()
}
