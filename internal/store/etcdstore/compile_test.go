package etcdstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

func put(k, v string) store.Op { return store.Put(k, []byte(v)) }

// compileCases are transactions whose compiled form etcd must run with the
// same result as boltstore runs the ops one after the other.
var compileCases = []struct {
	name string
	init []string // key, value pairs written before
	ops  []store.Op
}{
	{"empty", nil, nil},
	{"put", nil, []store.Op{put("a", "1")}},
	{"put twice", nil, []store.Op{put("a", "1"), put("a", "2")}},
	{"overwrite twice", []string{"a", "0"}, []store.Op{put("a", "1"), put("a", "2")}},
	{"put then delete, new key", nil, []store.Op{put("a", "1"), store.Delete("a")}},
	{"put then delete, old key", []string{"a", "0"}, []store.Op{put("a", "1"), store.Delete("a")}},
	{"delete then put, new key", nil, []store.Op{store.Delete("a"), put("a", "1")}},
	{"delete then put, old key", []string{"a", "0"}, []store.Op{store.Delete("a"), put("a", "1")}},
	{"delete twice", []string{"a", "0"}, []store.Op{store.Delete("a"), store.Delete("a")}},
	{"delete missing", nil, []store.Op{store.Delete("a")}},
	{"put delete put", []string{"a", "0"}, []store.Op{put("a", "1"), store.Delete("a"), put("a", "2")}},
	{"empty value", []string{"a", ""}, []store.Op{put("a", ""), put("b", "")}},
	{"delete prefix", []string{"p/a", "0", "p/b", "0", "p", "0", "pa", "0", "q", "0"}, []store.Op{store.DeletePrefix("p/")}},
	{"delete prefix then put under it", []string{"p/a", "0", "p/b", "0", "p/c", "0"},
		[]store.Op{store.DeletePrefix("p/"), put("p/b", "1")}},
	{"delete prefix then put its own key", []string{"p/", "0", "p/a", "0"},
		[]store.Op{store.DeletePrefix("p/"), put("p/", "1")}},
	{"delete prefix then put adjacent keys", []string{"p/a", "0", "p/a\x00", "0", "p/a\x00\x00", "0", "p/b", "0"},
		[]store.Op{store.DeletePrefix("p/"), put("p/a", "1"), put("p/a\x00", "1")}},
	{"put then delete prefix", []string{"p/a", "0"}, []store.Op{put("p/a", "1"), put("p/new", "1"), store.DeletePrefix("p/")}},
	{"delete prefix, put, delete", []string{"p/a", "0", "p/b", "0"},
		[]store.Op{store.DeletePrefix("p/"), put("p/a", "1"), put("p/c", "1"), store.Delete("p/a")}},
	{"delete prefix twice around a put", []string{"p/a", "0"},
		[]store.Op{store.DeletePrefix("p/"), put("p/a", "1"), put("p/b", "1"), store.DeletePrefix("p/"), put("p/b", "2")}},
	{"nested prefixes", []string{"p/a/1", "0", "p/a/2", "0", "p/b", "0"},
		[]store.Op{store.DeletePrefix("p/a/"), put("p/a/1", "1"), store.DeletePrefix("p/"), put("p/a/2", "2")}},
	{"inner prefix after outer", []string{"p/a/1", "0", "p/b", "0"},
		[]store.Op{store.DeletePrefix("p/"), put("p/a/1", "1"), put("p/b", "1"), store.DeletePrefix("p/a/")}},
	{"delete everything", []string{"a", "0", "b", "0", "\xff", "0"}, []store.Op{store.DeletePrefix("")}},
	{"delete everything then put", []string{"a", "0", "b", "0", "\xff", "0", "\xff\xff", "0"},
		[]store.Op{store.DeletePrefix(""), put("b", "1"), put("\xff", "1")}},
	{"all-0xff prefix", []string{"\xff\xff", "0", "\xff\xff\xff", "0", "\xff", "0"},
		[]store.Op{store.DeletePrefix("\xff\xff"), put("\xff\xff\xff", "1")}},
	{"single delete inside a deleted prefix", []string{"p/a", "0", "p/b", "0"},
		[]store.Op{store.Delete("p/a"), store.DeletePrefix("p/"), store.Delete("p/b")}},
	{"storetest mixed", []string{"a", "0", "b", "0", "c", "0"},
		[]store.Op{put("a", "1"), store.Delete("b"), put("d", "1"), store.DeletePrefix("c"), put("b", "2"), put("a", "3")}},
}

// TestCompileMatchesBoltstore runs each case on a boltstore and on etcd and
// compares what they did: Changed, the resulting keys, and the events.
func TestCompileMatchesBoltstore(t *testing.T) {
	bs := openBolt(t)
	es := openTest(t, Options{})
	for i, tc := range compileCases {
		t.Run(tc.name, func(t *testing.T) {
			compareWithBolt(t, bs, es, fmt.Sprintf("/case/%d/", i), tc.init, tc.ops)
		})
	}
}

// TestCompileRandom compares random transactions over a few keys that
// share prefixes.
func TestCompileRandom(t *testing.T) {
	bs := openBolt(t)
	es := openTest(t, Options{})
	keys := []string{"a", "a/", "a/1", "a/2", "a/2/x", "ab", "b", "b/1", "\xff", "\xff\xff"}
	prefixes := []string{"", "a", "a/", "a/2/", "b", "c", "\xff"}
	rnd := rand.New(rand.NewPCG(1, 2))
	n := 150
	if testing.Short() {
		n = 30
	}
	for i := range n {
		var init []string
		for _, k := range keys {
			if rnd.IntN(2) == 0 {
				init = append(init, k, "0")
			}
		}
		var ops []store.Op
		for j := range 1 + rnd.IntN(8) {
			switch r := rnd.IntN(10); {
			case r < 5:
				ops = append(ops, put(keys[rnd.IntN(len(keys))], fmt.Sprint(j+1)))
			case r < 8:
				ops = append(ops, store.Delete(keys[rnd.IntN(len(keys))]))
			default:
				ops = append(ops, store.DeletePrefix(prefixes[rnd.IntN(len(prefixes))]))
			}
		}
		if !compareWithBolt(t, bs, es, fmt.Sprintf("/random/%d/", i), init, ops) {
			t.Fatalf("random case %d: init %q, ops %s", i, init, opsText(ops))
		}
	}
}

// TestCompileNoOverlap checks the property etcd enforces, on random
// transactions: at most one put per key, and no put inside a deleted key
// or range.
func TestCompileNoOverlap(t *testing.T) {
	keys := []string{"", "a", "a/", "a/1", "a/1\x00", "a/2", "ab", "b", "\xff", "\xff\xff"}
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		var ops []store.Op
		for range 1 + rnd.IntN(10) {
			k := keys[rnd.IntN(len(keys))]
			switch rnd.IntN(3) {
			case 0:
				ops = append(ops, put(k, "v"))
			case 1:
				ops = append(ops, store.Delete(k))
			default:
				ops = append(ops, store.DeletePrefix(k))
			}
		}
		ws := compile(ops)
		puts := map[string]bool{}
		for _, w := range ws {
			if w.put {
				if puts[w.key] {
					t.Fatalf("compile(%s) puts %q twice: %+v", opsText(ops), w.key, ws)
				}
				puts[w.key] = true
			}
		}
		for _, w := range ws {
			if w.put {
				continue
			}
			for k := range puts {
				if k == w.key || (w.ranged && k >= w.key && (w.toEnd || k < w.end)) {
					t.Fatalf("compile(%s) puts %q inside delete %+v: %+v", opsText(ops), k, w, ws)
				}
			}
			if w.ranged && !w.toEnd && w.key >= w.end {
				t.Fatalf("compile(%s) has an empty range %+v", opsText(ops), w)
			}
		}
	}
}

func TestCompile(t *testing.T) {
	tests := []struct {
		ops  []store.Op
		want []write
	}{
		{[]store.Op{put("a", "1"), store.Delete("a"), put("a", "2")}, []write{{key: "a", put: true, value: []byte("2")}}},
		{[]store.Op{put("a", "1"), store.Delete("a")}, []write{{key: "a"}}},
		{[]store.Op{store.DeletePrefix("p/"), put("p/b", "1")}, []write{
			{key: "p/b", put: true, value: []byte("1")},
			{key: "p/", ranged: true, end: "p/b"},
			{key: "p/b\x00", ranged: true, end: "p0"},
		}},
		{[]store.Op{store.Delete("p/x"), store.DeletePrefix("p/a"), store.DeletePrefix("p/")}, []write{
			{key: "p/", ranged: true, end: "p0"},
		}},
		{[]store.Op{store.DeletePrefix(""), put("", "1")}, []write{
			{key: "", put: true, value: []byte("1")},
			{key: "\x00", ranged: true, toEnd: true},
		}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, compile(tc.ops), cmp.AllowUnexported(write{})); diff != "" {
			t.Errorf("compile(%s) mismatch (-want +got):\n%s", opsText(tc.ops), diff)
		}
	}
}

func openBolt(t *testing.T) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "bolt.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// outcome is what one backend did with a transaction, with revisions
// replaced by what they mean: "init" (the setup transaction) or "txn".
type outcome struct {
	Changed bool
	State   []string // key=value@createdBy
	Events  []string // type key=value prev=... @createdBy
}

// compareWithBolt writes init, then runs ops, under ns on both stores and
// reports whether they agree. The one documented difference: a key that
// existed, was deleted and put again in the same transaction keeps its
// creation revision on etcd ("init"); boltstore starts it anew ("txn").
func compareWithBolt(t *testing.T, bs, es store.Store, ns string, init []string, ops []store.Op) bool {
	t.Helper()
	nsOps := make([]store.Op, len(ops))
	for i, op := range ops {
		op.Key = ns + op.Key
		nsOps[i] = op
	}
	var initOps []store.Op
	for i := 0; i < len(init); i += 2 {
		initOps = append(initOps, put(ns+init[i], init[i+1]))
	}
	got := map[string]outcome{}
	for name, s := range map[string]store.Store{"bolt": bs, "etcd": es} {
		o, err := runCase(s, ns, initOps, nsOps)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return false
		}
		got[name] = o
	}
	want := got["bolt"]
	recreated := recreatedKeys(init, ops)
	fix := func(lines []string) []string {
		out := slices.Clone(lines)
		for i, l := range out {
			for k := range recreated {
				if strings.HasPrefix(l, k+"=") || strings.Contains(l, " "+k+"=") {
					out[i] = strings.Replace(l, "@txn", "@init", 1)
				}
			}
		}
		return out
	}
	want.State, want.Events = fix(want.State), fix(want.Events)
	if diff := cmp.Diff(want, got["etcd"]); diff != "" {
		t.Errorf("init %q, Txn(%s): etcd differs from boltstore (-bolt +etcd):\n%s", init, opsText(ops), diff)
		return false
	}
	return true
}

// recreatedKeys returns the keys of init that ops delete and then put.
func recreatedKeys(init []string, ops []store.Op) map[string]bool {
	out := map[string]bool{}
	for i := 0; i < len(init); i += 2 {
		k := init[i]
		deleted := false
		for _, op := range ops {
			switch {
			case op.Type == store.OpDelete && op.Key == k, op.Type == store.OpDeletePrefix && strings.HasPrefix(k, op.Key):
				deleted = true
			case op.Type == store.OpPut && op.Key == k && deleted:
				out[k] = true
			}
		}
	}
	return out
}

func runCase(s store.Store, ns string, initOps, ops []store.Op) (outcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rInit int64
	if len(initOps) > 0 {
		res, err := s.Txn(ctx, nil, initOps)
		if err != nil {
			return outcome{}, fmt.Errorf("init: %w", err)
		}
		rInit = res.Rev
	}
	ch := s.Watch(ctx, ns, 0)
	res, err := s.Txn(ctx, nil, ops)
	if err != nil {
		return outcome{}, fmt.Errorf("Txn: %w", err)
	}
	by := func(rev int64) string {
		switch rev {
		case rInit:
			return "init"
		case res.Rev:
			return "txn"
		}
		return fmt.Sprint(rev)
	}
	o := outcome{Changed: res.Changed}
	kvs, _, err := s.List(ctx, ns)
	if err != nil {
		return outcome{}, fmt.Errorf("List: %w", err)
	}
	for _, kv := range kvs {
		o.State = append(o.State, fmt.Sprintf("%s=%q@%s", kv.Key[len(ns):], kv.Value, by(kv.CreateRevision)))
	}
	if res.Changed {
		var evs []store.Event
		select {
		case evs = <-ch:
		case <-ctx.Done():
			return outcome{}, fmt.Errorf("watch: %w", ctx.Err())
		}
		if evs[0].Err != nil || evs[0].Rev != res.Rev {
			return outcome{}, fmt.Errorf("watch delivered %+v; want the events of revision %d", evs, res.Rev)
		}
		for _, ev := range evs {
			prev := "none"
			if ev.Prev != nil {
				prev = fmt.Sprintf("%q", ev.Prev)
			}
			if ev.Type == store.EventDelete {
				o.Events = append(o.Events, fmt.Sprintf("delete %s= prev=%s", ev.KV.Key[len(ns):], prev))
				continue
			}
			o.Events = append(o.Events, fmt.Sprintf("put %s=%q prev=%s @%s", ev.KV.Key[len(ns):], ev.KV.Value, prev, by(ev.KV.CreateRevision)))
		}
		slices.Sort(o.Events)
	}
	return o, nil
}

func opsText(ops []store.Op) string {
	var parts []string
	for _, op := range ops {
		switch op.Type {
		case store.OpPut:
			parts = append(parts, fmt.Sprintf("put(%q,%q)", op.Key, op.Value))
		case store.OpDelete:
			parts = append(parts, fmt.Sprintf("delete(%q)", op.Key))
		case store.OpDeletePrefix:
			parts = append(parts, fmt.Sprintf("deleteprefix(%q)", op.Key))
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}
