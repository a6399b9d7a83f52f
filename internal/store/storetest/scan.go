package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mapmesh/mapmesh/internal/store"
)

var scanTests = []test{
	{"Scan/SameAsList", testScanSameAsList},
	{"Scan/Snapshot", testScanSnapshot},
	{"Scan/FnError", testScanFnError},
	{"Scan/ValuesAreCallers", testScanValuesAreCallers},
	{"Scan/CanceledContext", testScanCanceled},
	{"Scan/CloseDuring", testScanCloseDuring},
}

// scanKeys is how many keys the Scan tests write: more than one page of
// a backend that reads in pages (etcdstore: 500).
const scanKeys = 1200

// scan runs Scan and collects what it delivers.
func scan(t testing.TB, s store.Store, prefix string) ([]store.KV, int64) {
	t.Helper()
	var kvs []store.KV
	rev, err := s.Scan(context.Background(), prefix, func(kv store.KV) error {
		kvs = append(kvs, kv)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%q) error = %v", prefix, err)
	}
	return kvs, rev
}

func testScanSameAsList(t *testing.T, s store.Store) {
	putMany(t, s, "/s/", scanKeys, "v")
	mustPut(t, s, "/s", "outside", "/s0", "outside", "/r/z", "outside")
	for _, prefix := range []string{"/s/", "/s/0005", "/s/001199", "/none/", ""} {
		want, wantRev := mustList(t, s, prefix)
		got, rev := scan(t, s, prefix)
		if diff := cmp.Diff(want, got, kvOpts...); diff != "" {
			t.Errorf("Scan(%q) mismatch with List (-list +scan):\n%s", prefix, diff)
		}
		if rev != wantRev {
			t.Errorf("Scan(%q) revision = %d; List's = %d", prefix, rev, wantRev)
		}
	}
}

// testScanSnapshot writes while a Scan runs (from fn itself): keys added
// before and after its position, rewritten and removed ahead of it. Scan
// must deliver the store as it was when it began, nothing else.
func testScanSnapshot(t *testing.T, s store.Store) {
	ctx := context.Background()
	putMany(t, s, "/s/", scanKeys, "v")
	want, wantRev := mustList(t, s, "/s/")
	writes := map[int][]store.Op{
		0: {
			store.Put("/s/", []byte("before all")),
			store.Put("/s/000000a", []byte("just behind")),
			store.Put("/s/000700a", []byte("ahead")),
			store.Put("/s/000900", []byte("rewritten")),
			store.Delete("/s/001000"),
			store.Put("/s/999999", []byte("after all")),
		},
		600: {
			store.DeletePrefix("/s/0011"),
			store.Put("/s/000650", []byte("rewritten just ahead")),
			store.Delete("/s/000599"), // behind
		},
	}
	var got []store.KV
	rev, err := s.Scan(ctx, "/s/", func(kv store.KV) error {
		if ops, ok := writes[len(got)]; ok {
			mustTxn(t, s, nil, ops...)
		}
		got = append(got, kv)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%q) error = %v", "/s/", err)
	}
	if diff := cmp.Diff(want, got, kvOpts...); diff != "" {
		t.Errorf("Scan(%q) during writes mismatch with the List before (-before +scan):\n%s", "/s/", diff)
	}
	if rev != wantRev {
		t.Errorf("Scan(%q) revision = %d; want %d, the revision it began at", "/s/", rev, wantRev)
	}
	// The writes are there for the next one.
	after, _ := scan(t, s, "/s/")
	if wantLen := len(want) + 4 - 1 - 100 - 1; len(after) != wantLen {
		t.Errorf("Scan(%q) after the writes = %d keys; want %d", "/s/", len(after), wantLen)
	}
}

func testScanFnError(t *testing.T, s store.Store) {
	putMany(t, s, "/s/", 10, "v")
	stop := errors.New("enough")
	calls := 0
	rev, err := s.Scan(context.Background(), "/s/", func(kv store.KV) error {
		calls++
		if calls == 3 {
			return fmt.Errorf("at %s: %w", kv.Key, stop)
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Errorf("Scan with fn failing at the 3rd key = %d, %v after %d calls; want fn's error after 3", rev, err, calls)
	}
}

// testScanValuesAreCallers: what fn is given stays valid after fn returns,
// and is fn's to change.
func testScanValuesAreCallers(t *testing.T, s store.Store) {
	putMany(t, s, "/s/", scanKeys, "value")
	want, _ := mustList(t, s, "/s/")
	got, _ := scan(t, s, "/s/")
	// More writes and reads, which must not reuse what Scan handed out.
	putMany(t, s, "/s/", scanKeys, "VALUE")
	scan(t, s, "/s/")
	if diff := cmp.Diff(want, got, kvOpts...); diff != "" {
		t.Fatalf("Scan(%q) results changed after later writes (-want +got):\n%s", "/s/", diff)
	}
	for _, kv := range got {
		copy(kv.Value, "mutat")
	}
	if v := mustGet(t, s, "/s/000000").Value; string(v) != "VALUE" {
		t.Errorf("Get(%q) = %q after the caller changed values Scan returned; want %q", "/s/000000", v, "VALUE")
	}
}

func testScanCanceled(t *testing.T, s store.Store) {
	putMany(t, s, "/s/", scanKeys, "v")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	if _, err := s.Scan(ctx, "/s/", func(store.KV) error { calls++; return nil }); !errors.Is(err, context.Canceled) || calls != 0 {
		t.Errorf("Scan with a canceled context = %v after %d calls; want context.Canceled before any", err, calls)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	calls = 0
	_, err := s.Scan(ctx, "/s/", func(store.KV) error {
		calls++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls == scanKeys {
		t.Errorf("Scan canceled at its first key = %v after %d calls; want context.Canceled before the %d keys", err, calls, scanKeys)
	}
}

// testScanCloseDuring closes the store while a Scan is in fn: Close must
// not wait for the scan to deliver everything, and the scan must end
// (complete, or with ErrClosed).
func testScanCloseDuring(t *testing.T, s store.Store) {
	putMany(t, s, "/s/", scanKeys, "v")
	closed := make(chan error, 1)
	calls := 0
	_, err := s.Scan(context.Background(), "/s/", func(store.KV) error {
		calls++
		if calls > 1 {
			return nil
		}
		go func() { closed <- s.Close() }()
		// Wait for Close to have begun: the store refuses new calls.
		deadline := time.Now().Add(waitTimeout)
		for {
			if _, err := s.Rev(context.Background()); errors.Is(err, store.ErrClosed) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("store not closing %v after Close", waitTimeout)
			}
			time.Sleep(time.Millisecond)
		}
	})
	if err != nil && !errors.Is(err, store.ErrClosed) {
		t.Errorf("Scan during Close error = %v after %d calls; want nil or ErrClosed", err, calls)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close during Scan error = %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("Close did not return %v after the Scan ended", waitTimeout)
	}
	t.Logf("Scan delivered %d of %d keys, then %v", calls, scanKeys, err)
}
