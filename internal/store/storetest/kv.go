package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mapmesh/mapmesh/internal/store"
)

var kvTests = []test{
	{"Get/NotFound", testGetNotFound},
	{"Get/PutThenGet", testPutGet},
	{"Get/ValueIsCallersCopy", testGetCopy},
	{"List/PrefixInKeyOrder", testListPrefix},
	{"List/Revision", testListRevision},
}

func testGetNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, key := range []string{"/missing", "/a", "/a/"} {
		kv, err := s.Get(ctx, key)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%q) = %+v, %v; want ErrNotFound", key, kv, err)
		}
	}
	// A key is not found through its prefix or its extension.
	mustPut(t, s, "/a/b", "1")
	for _, key := range []string{"/a", "/a/", "/a/bc"} {
		checkAbsent(t, s, key)
	}
}

func testPutGet(t *testing.T, s store.Store) {
	rev := mustPut(t, s, "/k", "v1")
	want := store.KV{Key: "/k", Value: []byte("v1"), CreateRevision: rev, ModRevision: rev}
	if diff := cmp.Diff(want, mustGet(t, s, "/k"), kvOpts...); diff != "" {
		t.Errorf("Get(%q) mismatch (-want +got):\n%s", "/k", diff)
	}
	checkRev(t, s, rev)
}

func testGetCopy(t *testing.T, s store.Store) {
	value := []byte("original")
	mustTxn(t, s, nil, store.Put("/k", value))
	copy(value, "mutated!") // the store must have kept its own copy
	kv := mustGet(t, s, "/k")
	if got := string(kv.Value); got != "original" {
		t.Fatalf("Get(%q).Value = %q after caller changed its slice; want %q", "/k", got, "original")
	}
	copy(kv.Value, "mutated!") // the caller owns what Get returned
	if got := string(mustGet(t, s, "/k").Value); got != "original" {
		t.Errorf("Get(%q).Value = %q after caller changed a returned slice; want %q", "/k", got, "original")
	}
}

func testListPrefix(t *testing.T, s store.Store) {
	// Written out of order, over two transactions.
	r1 := mustPut(t, s, "/l/b", "b", "/m", "m", "/l/", "root")
	r2 := mustPut(t, s, "/la", "la", "/l/c/1", "c1", "/l/a", "a")
	kv := func(key, value string, rev int64) store.KV {
		return store.KV{Key: key, Value: []byte(value), CreateRevision: rev, ModRevision: rev}
	}
	all := []store.KV{
		kv("/l/", "root", r1),
		kv("/l/a", "a", r2),
		kv("/l/b", "b", r1),
		kv("/l/c/1", "c1", r2),
		kv("/la", "la", r2),
		kv("/m", "m", r1),
	}
	tests := []struct {
		prefix string
		want   []store.KV
	}{
		{"", all},
		{"/", all},
		{"/l", all[:5]},
		{"/l/", all[:4]},
		{"/l/c/", all[3:4]},
		{"/l/c/1", all[3:4]},
		{"/l/c/10", nil},
		{"/nope/", nil},
		{"/m", all[5:]},
	}
	for _, tc := range tests {
		got, rev := mustList(t, s, tc.prefix)
		if diff := cmp.Diff(tc.want, got, kvOpts...); diff != "" {
			t.Errorf("List(%q) mismatch (-want +got):\n%s", tc.prefix, diff)
		}
		if rev != r2 {
			t.Errorf("List(%q) revision = %d; want %d", tc.prefix, rev, r2)
		}
	}
}

func testListRevision(t *testing.T, s store.Store) {
	_, r0 := mustList(t, s, "/")
	if want := mustRev(t, s); r0 != want {
		t.Errorf("List(%q) revision on an untouched store = %d; want Rev() = %d", "/", r0, want)
	}
	r1 := mustPut(t, s, "/x/a", "1")
	// The revision is the store's, even when nothing under the prefix changed.
	r2 := mustPut(t, s, "/y/a", "1")
	if r2 != r1+1 {
		t.Errorf("Txn revision = %d; want %d", r2, r1+1)
	}
	for _, prefix := range []string{"/x/", "/y/", "/z/"} {
		if _, rev := mustList(t, s, prefix); rev != r2 {
			t.Errorf("List(%q) revision = %d; want %d", prefix, rev, r2)
		}
	}
	// A failed transaction leaves the revision where it was.
	if _, err := s.Txn(context.Background(), []store.Cond{{Key: "/x/a", ModRevision: 0}}, []store.Op{store.Put("/x/b", nil)}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Txn with a failing cond error = %v; want ErrConflict", err)
	}
	if _, rev := mustList(t, s, "/x/"); rev != r2 {
		t.Errorf("List(%q) revision after a conflict = %d; want %d", "/x/", rev, r2)
	}
}
