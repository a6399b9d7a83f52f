package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mapmesh/mapmesh/internal/store"
)

var pageTests = []test{
	{"ListPage/Order", testPageOrder},
	{"ListPage/Limit", testPageLimit},
	{"ListPage/Deletions", testPageDeletions},
	{"ListPage/Revision", testPageRevision},
	{"ListPage/WhileWriting", testPageWhileWriting},
	{"ListPage/CanceledContext", testPageCanceled},
}

// pageLayout is written by the ListPage tests: keys under /p/ and around
// it (/p0 is where /p/ ends), out of order, over several transactions.
var pageLayout = [][]string{
	{"/p/b", "/q", "/p/a/1", "/o/z"},
	{"/p/", "/p0", "/p", "/p/\xff", "/p/a"},
	{"/p/c", "/p/a/2", "/p/ab", "/p/\xff\xff/x"},
}

func writeLayout(t *testing.T, s store.Store, layout [][]string) {
	t.Helper()
	for _, keys := range layout {
		var kvs []string
		for _, k := range keys {
			kvs = append(kvs, k, "v"+k)
		}
		mustPut(t, s, kvs...)
	}
}

func testPageOrder(t *testing.T, s store.Store) {
	writeLayout(t, s, pageLayout)
	for _, prefix := range []string{"/p/", "/p/a", "/p", "", "/p/\xff", "/nope/"} {
		CheckReads(t, s, prefix)
	}
}

// CheckReads checks that List, Scan and ListPage agree on prefix: Scan
// returns what List does, at the same revision, and ListPage returns, for
// every After around the keys (each key, just after it, just before it,
// and outside the prefix), both directions and several limits, the page
// List's keys call for; paging through with each page's last key as the
// next After returns every key once. The store must not change meanwhile.
// Backends call it from their own tests, on states that the suite cannot
// produce (boltstore: keys spread over its layers).
func CheckReads(t testing.TB, s store.Store, prefix string) {
	t.Helper()
	ctx := context.Background()
	all, rev := mustList(t, s, prefix)
	var scanned []store.KV
	srev, err := s.Scan(ctx, prefix, func(kv store.KV) error {
		scanned = append(scanned, kv)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%q) error = %v", prefix, err)
	}
	if !sameKVs(all, scanned) {
		diff := cmp.Diff(all, scanned, kvOpts...)
		t.Errorf("Scan(%q) mismatch with List (-list +scan):\n%s", prefix, diff)
	}
	if srev != rev {
		t.Errorf("Scan(%q) revision = %d; List's = %d", prefix, srev, rev)
	}

	afters := []string{"", prefix, prefix + "\xff", "\x00", "\xff\xff"}
	if prefix != "" {
		afters = append(afters, prefix[:len(prefix)-1], prefixBefore(prefix))
	}
	for _, kv := range all {
		afters = append(afters, kv.Key, kv.Key+"\x00", kv.Key[:len(kv.Key)-1], prefixBefore(kv.Key))
	}
	for _, reverse := range []bool{false, true} {
		for _, after := range afters {
			for _, limit := range []int{1, 2, store.MaxPageLimit} {
				checkPage(t, s, prefix, store.PageOptions{After: after, Limit: limit, Reverse: reverse}, all, rev)
			}
		}
		for _, limit := range []int{1, 2, 3, len(all), len(all) + 1} {
			checkPaging(t, s, prefix, limit, reverse, all)
		}
	}
}

// prefixBefore returns a key just before k: k with its last byte
// decremented (and 0xff appended), or "" for a key of 0x00s.
func prefixBefore(k string) string {
	b := []byte(k)
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return ""
	}
	b[len(b)-1]--
	return string(b) + "\xff"
}

// wantPage returns the page that opts calls for among all, the keys under
// prefix in key order, and whether keys remain beyond it.
func wantPage(all []store.KV, opts store.PageOptions) ([]store.KV, bool) {
	var in []store.KV
	for _, kv := range all {
		if opts.After == "" || (!opts.Reverse && kv.Key > opts.After) || (opts.Reverse && kv.Key < opts.After) {
			in = append(in, kv)
		}
	}
	if opts.Reverse {
		slices.Reverse(in)
	}
	if limit := opts.PageLimit(); len(in) > limit {
		return in[:limit], true
	}
	return in, false
}

func checkPage(t testing.TB, s store.Store, prefix string, opts store.PageOptions, all []store.KV, rev int64) store.Page {
	t.Helper()
	page, err := s.ListPage(context.Background(), prefix, opts)
	if err != nil {
		t.Fatalf("ListPage(%q, %s) error = %v", prefix, optsString(opts), err)
	}
	want, more := wantPage(all, opts)
	if !sameKVs(want, page.KVs) {
		diff := cmp.Diff(want, page.KVs, kvOpts...)
		t.Errorf("ListPage(%q, %s) mismatch (-want +got):\n%s", prefix, optsString(opts), diff)
	}
	if page.More != more {
		t.Errorf("ListPage(%q, %s).More = %v; want %v", prefix, optsString(opts), page.More, more)
	}
	if page.Rev != rev {
		t.Errorf("ListPage(%q, %s).Rev = %d; want %d", prefix, optsString(opts), page.Rev, rev)
	}
	return page
}

// checkPaging pages through prefix limit keys at a time.
func checkPaging(t testing.TB, s store.Store, prefix string, limit int, reverse bool, all []store.KV) {
	t.Helper()
	var got []store.KV
	opts := store.PageOptions{Limit: limit, Reverse: reverse}
	for range len(all) + 2 {
		page, err := s.ListPage(context.Background(), prefix, opts)
		if err != nil {
			t.Fatalf("ListPage(%q, %s) error = %v", prefix, optsString(opts), err)
		}
		if len(page.KVs) > opts.PageLimit() {
			t.Fatalf("ListPage(%q, %s) returned %d keys; want at most %d", prefix, optsString(opts), len(page.KVs), opts.PageLimit())
		}
		got = append(got, page.KVs...)
		if !page.More {
			want := slices.Clone(all)
			if reverse {
				slices.Reverse(want)
			}
			if !sameKVs(want, got) {
				diff := cmp.Diff(want, got, kvOpts...)
				t.Errorf("paging through %q by %d (reverse %v) mismatch (-want +got):\n%s", prefix, limit, reverse, diff)
			}
			return
		}
		if len(page.KVs) == 0 {
			t.Fatalf("ListPage(%q, %s) = no keys and More", prefix, optsString(opts))
		}
		opts.After = page.KVs[len(page.KVs)-1].Key
	}
	t.Errorf("paging through %q by %d (reverse %v) did not end after %d pages", prefix, limit, reverse, len(all)+2)
}

// putMany writes n keys prefix+%06d with value v, 100 per transaction (within
// every backend's limits).
func putMany(t testing.TB, s store.Store, prefix string, n int, v string) {
	t.Helper()
	var ops []store.Op
	for i := range n {
		ops = append(ops, store.Put(fmt.Sprintf("%s%06d", prefix, i), []byte(v)))
		if len(ops) == 100 || i == n-1 {
			mustTxn(t, s, nil, ops...)
			ops = nil
		}
	}
}

func testPageLimit(t *testing.T, s store.Store) {
	ctx := context.Background()
	n := store.MaxPageLimit + 1
	putMany(t, s, "/lim/", n, "v")
	mustPut(t, s, "/lim0", "outside")
	tests := []struct {
		limit, want int
		more        bool
	}{
		{0, store.DefaultPageLimit, true},
		{-1, store.DefaultPageLimit, true},
		{1, 1, true},
		{store.MaxPageLimit, store.MaxPageLimit, true},
		{store.MaxPageLimit + 1, store.MaxPageLimit, true},
		{1 << 30, store.MaxPageLimit, true},
	}
	for _, tc := range tests {
		for _, reverse := range []bool{false, true} {
			opts := store.PageOptions{Limit: tc.limit, Reverse: reverse}
			page, err := s.ListPage(ctx, "/lim/", opts)
			if err != nil {
				t.Fatalf("ListPage(%q, %s) error = %v", "/lim/", optsString(opts), err)
			}
			if len(page.KVs) != tc.want || page.More != tc.more {
				t.Errorf("ListPage(%q, %+v) = %d keys, More %v; want %d, %v", "/lim/", opts, len(page.KVs), page.More, tc.want, tc.more)
			}
			if len(page.KVs) == 0 {
				continue
			}
			first, last := fmt.Sprintf("/lim/%06d", 0), fmt.Sprintf("/lim/%06d", tc.want-1)
			if reverse {
				first, last = fmt.Sprintf("/lim/%06d", n-1), fmt.Sprintf("/lim/%06d", n-tc.want)
			}
			if page.KVs[0].Key != first || page.KVs[len(page.KVs)-1].Key != last {
				t.Errorf("ListPage(%q, %+v) = %s..%s; want %s..%s", "/lim/", opts, page.KVs[0].Key, page.KVs[len(page.KVs)-1].Key, first, last)
			}
		}
	}
	// The last page of all.
	page, err := s.ListPage(ctx, "/lim/", store.PageOptions{After: fmt.Sprintf("/lim/%06d", n-3)})
	if err != nil || len(page.KVs) != 2 || page.More {
		t.Errorf("ListPage(%q) of the last two = %d keys, More %v, %v; want 2, false", "/lim/", len(page.KVs), page.More, err)
	}
}

func testPageDeletions(t *testing.T, s store.Store) {
	var kvs []string
	for i := range 20 {
		kvs = append(kvs, fmt.Sprintf("/d/%02d", i), "v")
	}
	mustPut(t, s, kvs...)
	mustTxn(t, s, nil, store.Delete("/d/00"), store.Delete("/d/05"), store.Delete("/d/19"))
	mustTxn(t, s, nil, store.DeletePrefix("/d/1"))
	mustPut(t, s, "/d/12", "again", "/d/055", "new")
	mustTxn(t, s, nil, store.Delete("/d/06"), store.Put("/d/06", []byte("recreated")))
	all, _ := mustList(t, s, "/d/")
	var keys []string
	for _, kv := range all {
		keys = append(keys, kv.Key)
	}
	want := "/d/01 /d/02 /d/03 /d/04 /d/055 /d/06 /d/07 /d/08 /d/09 /d/12"
	if got := strings.Join(keys, " "); got != want {
		t.Fatalf("List(%q) = %s; want %s", "/d/", got, want)
	}
	CheckReads(t, s, "/d/")
	// Nothing left: an empty page, from either end.
	mustTxn(t, s, nil, store.DeletePrefix("/d/"))
	CheckReads(t, s, "/d/")
}

func testPageRevision(t *testing.T, s store.Store) {
	ctx := context.Background()
	page, err := s.ListPage(ctx, "/r/", store.PageOptions{})
	if err != nil || len(page.KVs) != 0 || page.More || page.Rev != mustRev(t, s) {
		t.Errorf("ListPage(%q) on an empty prefix = %+v, %v; want no keys at revision %d", "/r/", page, err, mustRev(t, s))
	}
	r1 := mustPut(t, s, "/r/a", "1")
	// The revision is the store's, even when nothing under the prefix changed.
	r2 := mustPut(t, s, "/other", "1")
	for _, opts := range []store.PageOptions{{}, {Reverse: true}, {After: "/r/a"}, {After: "/r/a", Reverse: true}} {
		page, err := s.ListPage(ctx, "/r/", opts)
		if err != nil || page.Rev != r2 {
			t.Errorf("ListPage(%q, %+v) = revision %d, %v; want %d", "/r/", opts, page.Rev, err, r2)
		}
	}
	page, _ = s.ListPage(ctx, "/r/", store.PageOptions{})
	if len(page.KVs) != 1 || page.KVs[0].CreateRevision != r1 || page.KVs[0].ModRevision != r1 {
		t.Errorf("ListPage(%q) = %+v; want /r/a created and modified at %d", "/r/", page.KVs, r1)
	}
}

// testPageWhileWriting pages through a prefix while writers add, rewrite
// and remove keys in it: each page is ordered, strictly after the last
// one, and read at one revision (no key in it is newer).
func testPageWhileWriting(t *testing.T, s store.Store) {
	ctx := context.Background()
	putMany(t, s, "/ww/", 300, "v0")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := fmt.Sprintf("/ww/%06d", (i*37)%300)
			ops := []store.Op{store.Put(k, fmt.Appendf(nil, "v%d", i)), store.Put(k+"x", nil)}
			if i%3 == 0 {
				ops = []store.Op{store.Delete(k), store.Delete(k + "x")}
			}
			if _, err := s.Txn(ctx, nil, ops); err != nil {
				t.Errorf("Txn error = %v", err)
				return
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	for round := range 6 {
		reverse := round%2 == 1
		opts := store.PageOptions{Limit: 7, Reverse: reverse}
		for pages := 0; ; pages++ {
			if pages > 1000 {
				t.Fatalf("paging did not end after %d pages", pages)
			}
			page, err := s.ListPage(ctx, "/ww/", opts)
			if err != nil {
				t.Fatalf("ListPage(%q, %s) error = %v", "/ww/", optsString(opts), err)
			}
			prev := opts.After
			for _, kv := range page.KVs {
				if kv.ModRevision > page.Rev {
					t.Fatalf("ListPage at revision %d returned %s modified at %d", page.Rev, kv.Key, kv.ModRevision)
				}
				if prev != "" && (!reverse && kv.Key <= prev || reverse && kv.Key >= prev) {
					t.Fatalf("ListPage(%s) returned %q after %q", optsString(opts), kv.Key, prev)
				}
				prev = kv.Key
			}
			if !page.More {
				break
			}
			opts.After = prev
		}
	}
}

func testPageCanceled(t *testing.T, s store.Store) {
	mustPut(t, s, "/c/a", "1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if page, err := s.ListPage(ctx, "/c/", store.PageOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("ListPage with a canceled context = %+v, %v; want context.Canceled", page, err)
	}
}

func optsString(o store.PageOptions) string {
	return fmt.Sprintf("{After:%q Limit:%d Reverse:%v}", o.After, o.Limit, o.Reverse)
}

// sameKVs is cmp.Equal(a, b, kvOpts...), fast: CheckReads compares
// thousands of pages.
func sameKVs(a, b []store.KV) bool {
	return slices.EqualFunc(a, b, func(x, y store.KV) bool {
		return x.Key == y.Key && bytes.Equal(x.Value, y.Value) && x.CreateRevision == y.CreateRevision && x.ModRevision == y.ModRevision
	})
}
