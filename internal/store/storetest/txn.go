package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mapmesh/mapmesh/internal/store"
)

var txnTests = []test{
	{"Txn/Overwrite", testOverwrite},
	{"Txn/OneRevisionPerTxn", testOneRevisionPerTxn},
	{"Txn/NoChange", testNoChange},
	{"Txn/Delete", testDelete},
	{"Txn/DeletePrefix", testDeletePrefix},
	{"Txn/OpsInOrder", testOpsInOrder},
	{"Txn/Conds", testConds},
	{"Txn/ConflictAppliesNothing", testConflictAppliesNothing},
	{"Txn/TooLarge", testTooLarge},
	{"Txn/CanceledContext", testTxnCanceled},
}

func testOverwrite(t *testing.T, s store.Store) {
	r1 := mustPut(t, s, "/k", "v1")
	r2 := mustPut(t, s, "/k", "v2")
	if r2 != r1+1 {
		t.Errorf("second Txn revision = %d; want %d", r2, r1+1)
	}
	r3 := mustPut(t, s, "/k", "v2") // the same value is still a write
	if r3 != r2+1 {
		t.Errorf("third Txn revision = %d; want %d", r3, r2+1)
	}
	want := store.KV{Key: "/k", Value: []byte("v2"), CreateRevision: r1, ModRevision: r3}
	if diff := cmp.Diff(want, mustGet(t, s, "/k"), kvOpts...); diff != "" {
		t.Errorf("Get(%q) after overwrites mismatch (-want +got):\n%s", "/k", diff)
	}
	// Recreated after a delete, the key starts a new life.
	mustTxn(t, s, nil, store.Delete("/k"))
	r5 := mustPut(t, s, "/k", "v3")
	want = store.KV{Key: "/k", Value: []byte("v3"), CreateRevision: r5, ModRevision: r5}
	if diff := cmp.Diff(want, mustGet(t, s, "/k"), kvOpts...); diff != "" {
		t.Errorf("Get(%q) after delete and put mismatch (-want +got):\n%s", "/k", diff)
	}
}

func testOneRevisionPerTxn(t *testing.T, s store.Store) {
	r0 := mustRev(t, s)
	for i := int64(1); i <= 5; i++ {
		key := func(n int) string { return fmt.Sprintf("/r/%d/%d", i, n) }
		rev := mustTxn(t, s, nil,
			store.Put(key(1), []byte("a")),
			store.Put(key(2), []byte("b")),
			store.Put(key(3), []byte("c")),
			store.Delete(fmt.Sprintf("/r/%d/3", i-1)),
		)
		if want := r0 + i; rev != want {
			t.Errorf("Txn #%d revision = %d; want %d", i, rev, want)
		}
		checkRev(t, s, r0+i)
		for n := 1; n <= 3; n++ {
			kv := mustGet(t, s, key(n))
			if kv.CreateRevision != rev || kv.ModRevision != rev {
				t.Errorf("Get(%q) revisions = %d/%d; want %d/%d", key(n), kv.CreateRevision, kv.ModRevision, rev, rev)
			}
		}
	}
}

func testNoChange(t *testing.T, s store.Store) {
	ctx := context.Background()
	r0 := mustPut(t, s, "/k", "v")
	tests := []struct {
		name    string
		conds   []store.Cond
		ops     []store.Op
		wantErr error
	}{
		{name: "empty"},
		{name: "holding cond", conds: []store.Cond{{Key: "/k", ModRevision: r0}, {Key: "/missing", ModRevision: 0}}},
		{name: "failing cond", conds: []store.Cond{{Key: "/k", ModRevision: 0}}, wantErr: store.ErrConflict},
		{name: "delete missing", ops: []store.Op{store.Delete("/missing")}},
		{name: "delete empty prefix", ops: []store.Op{store.DeletePrefix("/nothing/"), store.Delete("/k/")}},
	}
	for _, tc := range tests {
		res, err := s.Txn(ctx, tc.conds, tc.ops)
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Errorf("%s: Txn(%v, %s) error = %v; want %v", tc.name, tc.conds, opsString(tc.ops), err, tc.wantErr)
		}
		if res.Rev != r0 || res.Changed {
			t.Errorf("%s: Txn(%v, %s) = %+v; want the current revision %d, Changed false", tc.name, tc.conds, opsString(tc.ops), res, r0)
		}
		checkRev(t, s, r0)
	}
	if kv := mustGet(t, s, "/k"); string(kv.Value) != "v" || kv.ModRevision != r0 {
		t.Errorf("Get(%q) = %q@%d; want %q@%d", "/k", kv.Value, kv.ModRevision, "v", r0)
	}
}

func testDelete(t *testing.T, s store.Store) {
	mustPut(t, s, "/a", "1", "/b", "2", "/a/c", "3")
	r := mustTxn(t, s, nil, store.Delete("/a"))
	checkRev(t, s, r)
	checkAbsent(t, s, "/a")
	for _, key := range []string{"/b", "/a/c"} { // Delete is exact, not a prefix
		mustGet(t, s, key)
	}
	// The deleted key is gone from List too.
	kvs, _ := mustList(t, s, "/")
	var keys []string
	for _, kv := range kvs {
		keys = append(keys, kv.Key)
	}
	if diff := cmp.Diff([]string{"/a/c", "/b"}, keys); diff != "" {
		t.Errorf("List(%q) keys after delete mismatch (-want +got):\n%s", "/", diff)
	}
}

func testDeletePrefix(t *testing.T, s store.Store) {
	mustPut(t, s, "/p/a", "1", "/p/b", "2", "/p/c/d", "3", "/p", "4", "/pa", "5", "/q", "6")
	r := mustTxn(t, s, nil, store.DeletePrefix("/p/"))
	checkRev(t, s, r)
	kvs, rev := mustList(t, s, "")
	var keys []string
	for _, kv := range kvs {
		keys = append(keys, kv.Key)
	}
	if diff := cmp.Diff([]string{"/p", "/pa", "/q"}, keys); diff != "" {
		t.Errorf("List(%q) keys after DeletePrefix(%q) mismatch (-want +got):\n%s", "", "/p/", diff)
	}
	if rev != r {
		t.Errorf("List(%q) revision = %d; want %d", "", rev, r)
	}
	// Deleting an empty prefix again changes nothing.
	if rev := mustTxn(t, s, nil, store.DeletePrefix("/p/")); rev != r {
		t.Errorf("second DeletePrefix(%q) revision = %d; want %d", "/p/", rev, r)
	}
	// The empty prefix is every key.
	mustTxn(t, s, nil, store.DeletePrefix(""))
	if kvs, _ := mustList(t, s, ""); len(kvs) != 0 {
		t.Errorf("List(%q) after DeletePrefix(%q) = %d keys; want 0", "", "", len(kvs))
	}
}

func testOpsInOrder(t *testing.T, s store.Store) {
	put := func(k, v string) store.Op { return store.Put(k, []byte(v)) }
	tests := []struct {
		name string
		init []string // key, value pairs written before
		ops  []store.Op
		want map[string]string
	}{
		{"put twice", nil, []store.Op{put("k", "1"), put("k", "2")}, map[string]string{"k": "2"}},
		{"put then delete", nil, []store.Op{put("k", "1"), store.Delete("k")}, nil},
		{"delete then put", []string{"k", "0"}, []store.Op{store.Delete("k"), put("k", "1")}, map[string]string{"k": "1"}},
		{"put then delete prefix", []string{"a", "0"}, []store.Op{put("b", "1"), store.DeletePrefix("")}, nil},
		{"delete prefix then put", []string{"a", "0", "b", "0"}, []store.Op{store.DeletePrefix(""), put("b", "1")}, map[string]string{"b": "1"}},
		{"mixed", []string{"a", "0", "b", "0", "c", "0"},
			[]store.Op{put("a", "1"), store.Delete("b"), put("d", "1"), store.DeletePrefix("c"), put("b", "2"), put("a", "3")},
			map[string]string{"a": "3", "b": "2", "d": "1"}},
	}
	for i, tc := range tests {
		prefix := fmt.Sprintf("/order/%d/", i)
		var init []store.Op
		for j := 0; j < len(tc.init); j += 2 {
			init = append(init, store.Put(prefix+tc.init[j], []byte(tc.init[j+1])))
		}
		if len(init) > 0 {
			mustTxn(t, s, nil, init...)
		}
		ops := make([]store.Op, len(tc.ops))
		for j, op := range tc.ops {
			op.Key = prefix + op.Key
			ops[j] = op
		}
		mustTxn(t, s, nil, ops...)
		kvs, _ := mustList(t, s, prefix)
		got := map[string]string{}
		for _, kv := range kvs {
			got[kv.Key[len(prefix):]] = string(kv.Value)
		}
		if tc.want == nil {
			tc.want = map[string]string{}
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: keys after Txn(%s) mismatch (-want +got):\n%s", tc.name, opsString(ops), diff)
		}
	}
}

func testConds(t *testing.T, s store.Store) {
	ctx := context.Background()
	ra := mustPut(t, s, "/c/a", "a")
	rb := mustPut(t, s, "/c/b", "b")
	tests := []struct {
		name     string
		conds    []store.Cond
		conflict bool
	}{
		{"mod revision matches", []store.Cond{{Key: "/c/a", ModRevision: ra}}, false},
		{"mod revision stale", []store.Cond{{Key: "/c/a", ModRevision: rb}}, true},
		{"mod revision ahead", []store.Cond{{Key: "/c/b", ModRevision: rb + 100}}, true},
		{"zero on missing", []store.Cond{{Key: "/c/missing", ModRevision: 0}}, false},
		{"zero on existing", []store.Cond{{Key: "/c/a", ModRevision: 0}}, true},
		{"nonzero on missing", []store.Cond{{Key: "/c/missing", ModRevision: ra}}, true},
		{"zero on a prefix of a key", []store.Cond{{Key: "/c/", ModRevision: 0}}, false},
		{"all hold", []store.Cond{{Key: "/c/a", ModRevision: ra}, {Key: "/c/b", ModRevision: rb}, {Key: "/c/missing", ModRevision: 0}}, false},
		{"last fails", []store.Cond{{Key: "/c/a", ModRevision: ra}, {Key: "/c/b", ModRevision: ra}}, true},
		{"first fails", []store.Cond{{Key: "/c/a", ModRevision: 0}, {Key: "/c/b", ModRevision: rb}}, true},
	}
	for i, tc := range tests {
		marker := fmt.Sprintf("/c/out/%d", i)
		r0 := mustRev(t, s)
		res, err := s.Txn(ctx, tc.conds, []store.Op{store.Put(marker, []byte("x"))})
		rev := res.Rev
		if tc.conflict {
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("%s: Txn(%v) error = %v; want ErrConflict", tc.name, tc.conds, err)
			}
			if rev != r0 || res.Changed {
				t.Errorf("%s: Txn(%v) on conflict = %+v; want the current revision %d, Changed false", tc.name, tc.conds, res, r0)
			}
			checkRev(t, s, r0)
			checkAbsent(t, s, marker)
			continue
		}
		if err != nil {
			t.Errorf("%s: Txn(%v) error = %v; want nil", tc.name, tc.conds, err)
			continue
		}
		if rev != r0+1 || !res.Changed {
			t.Errorf("%s: Txn(%v) = %+v; want revision %d, Changed", tc.name, tc.conds, res, r0+1)
		}
		if kv := mustGet(t, s, marker); kv.ModRevision != rev {
			t.Errorf("%s: Get(%q).ModRevision = %d; want %d", tc.name, marker, kv.ModRevision, rev)
		}
	}
}

func testConflictAppliesNothing(t *testing.T, s store.Store) {
	ctx := context.Background()
	r0 := mustPut(t, s, "/k/a", "a", "/k/b", "b", "/k/c/1", "c")
	before, _ := mustList(t, s, "/")
	res, err := s.Txn(ctx,
		[]store.Cond{{Key: "/k/a", ModRevision: r0}, {Key: "/k/b", ModRevision: r0 - 1}},
		[]store.Op{
			store.Put("/k/a", []byte("changed")),
			store.Delete("/k/b"),
			store.DeletePrefix("/k/c/"),
			store.Put("/k/new", []byte("new")),
		})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Txn with a failing cond error = %v; want ErrConflict", err)
	}
	if res.Rev != r0 || res.Changed {
		t.Errorf("Txn with a failing cond = %+v; want revision %d, Changed false", res, r0)
	}
	after, revAfter := mustList(t, s, "/")
	if diff := cmp.Diff(before, after, kvOpts...); diff != "" {
		t.Errorf("List(%q) changed by a failed Txn (-before +after):\n%s", "/", diff)
	}
	if revAfter != r0 {
		t.Errorf("List(%q) revision after a failed Txn = %d; want %d", "/", revAfter, r0)
	}
}

func testTooLarge(t *testing.T, s store.Store) {
	ctx := context.Background()
	r0 := mustRev(t, s)
	// Well past the limits of every backend: 100,000 operations, and 32 MiB
	// in one value.
	many := make([]store.Op, 100_000)
	for i := range many {
		many[i] = store.Put(fmt.Sprintf("/big/%06d", i), []byte("v"))
	}
	huge := []store.Op{store.Put("/big/huge", make([]byte, 32<<20))}
	for name, ops := range map[string][]store.Op{"100000 ops": many, "32 MiB value": huge} {
		res, err := s.Txn(ctx, nil, ops)
		if !errors.Is(err, store.ErrTooLarge) {
			t.Errorf("Txn(%s) = %+v, %v; want ErrTooLarge", name, res, err)
		}
	}
	checkRev(t, s, r0)
	if kvs, _ := mustList(t, s, "/big/"); len(kvs) != 0 {
		t.Errorf("List(%q) after rejected Txns = %d keys; want 0", "/big/", len(kvs))
	}
}

func testTxnCanceled(t *testing.T, s store.Store) {
	r0 := mustRev(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Txn(ctx, nil, []store.Op{store.Put("/k", []byte("v"))}); !errors.Is(err, context.Canceled) {
		t.Errorf("Txn with a canceled context error = %v; want context.Canceled", err)
	}
	checkRev(t, s, r0)
	checkAbsent(t, s, "/k")
}
