package appmesh

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
)

var testCtx = awsapi.WithCaller(context.Background(), awsapi.Caller{Account: "111122223333", Region: "eu-west-1"})

// openStore opens a bbolt store in a temporary directory.
func openStore(t *testing.T, path string) *boltstore.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "mapmesh.db")
	}
	st, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newBackend runs a Backend on st until the test ends.
func newBackend(t *testing.T, st store.Store, cfg Config) *Backend {
	t.Helper()
	b, err := New(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func code(err error) string {
	var ae *awsapi.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	if err == nil {
		return ""
	}
	return "not an *awsapi.Error: " + err.Error()
}

func s(v string) *string { return &v }

// faultyStore is a store whose Txn fails with err.
type faultyStore struct {
	store.Store
	err error
}

func (f faultyStore) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (store.TxnResult, error) {
	rev, _ := f.Store.Rev(ctx)
	return store.TxnResult{Rev: rev}, f.err
}

// TestStoreFaults: store failures come back as errors of their class (the
// API layer maps them to AWS errors in one place, awsapi.Faults): a write
// that keeps losing races wraps store.ErrConflict, a closed or full store
// its sentinel, after a bounded number of attempts.
func TestStoreFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"conflict forever", fmt.Errorf("test: %w", store.ErrConflict), store.ErrConflict},
		{"closed", fmt.Errorf("test: %w", store.ErrClosed), store.ErrClosed},
		{"disk full", fmt.Errorf("test: %w", store.ErrNoSpace), store.ErrNoSpace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, "")
			t.Cleanup(func() { _ = st.Close() })
			b := newBackend(t, faultyStore{st, tc.err}, Config{})
			_, err := b.CreateMesh(testCtx, &CreateMeshInput{MeshName: s("m")})
			if !errors.Is(err, tc.want) {
				t.Fatalf("CreateMesh = %v; want an error wrapping %v", err, tc.want)
			}
			var ae *awsapi.Error
			if errors.As(err, &ae) {
				t.Fatalf("CreateMesh = %v; want the store's error, for the API layer to map", err)
			}
		})
	}
	t.Run("store closed", func(t *testing.T) {
		st := openStore(t, "")
		b := newBackend(t, st, Config{})
		_ = st.Close()
		_, err := b.CreateMesh(testCtx, &CreateMeshInput{MeshName: s("m")})
		if !errors.Is(err, store.ErrClosed) && !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("CreateMesh on a closed store = %v; want ErrClosed or ErrUnavailable", err)
		}
	})
}

// TestReload: a new Backend on the same store sees everything, and the
// read model exports it with GA specs whatever version wrote it.
func TestReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mapmesh.db")
	st := openStore(t, path)
	b := newBackend(t, st, Config{})
	if _, err := b.CreateMesh2018(testCtx, &CreateMeshInput2018{MeshName: s("m")}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateVirtualNode2018(testCtx, &CreateVirtualNodeInput2018{MeshName: s("m"), VirtualNodeName: s("vn"),
		Spec: &VirtualNodeSpec2018{Backends: []string{"a.local"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateVirtualRouter2018(testCtx, &CreateVirtualRouterInput2018{MeshName: s("m"), VirtualRouterName: s("vr"),
		Spec: &VirtualRouterSpec2018{ServiceNames: []string{"a.local"}}}); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	_ = st.Close()

	st = openStore(t, path)
	t.Cleanup(func() { _ = st.Close() })
	b = newBackend(t, st, Config{})
	var changes []Change
	done := make(chan struct{}, 8)
	b.Subscribe(func(rev int64, cs []Change) { changes = append(changes, cs...); done <- struct{}{} })
	mc, ok := b.Mesh("111122223333", "eu-west-1", "m")
	if !ok || len(mc.VirtualNodes) != 1 || len(mc.VirtualRouters) != 1 || len(mc.VirtualServices) != 1 {
		t.Fatalf("Mesh after reload = %+v, %v", mc, ok)
	}
	if got := deref(mc.VirtualNodes[0].VirtualNode.Backends[0].VirtualService.VirtualServiceName); got != "a.local" {
		t.Errorf("exported backend = %q; want a.local", got)
	}
	vs := mc.VirtualServices[0]
	if vs.Name != "a.local" || deref(vs.VirtualService.Provider.VirtualRouter.VirtualRouterName) != "vr" || vs.ARN != "arn:aws:appmesh:eu-west-1:111122223333:mesh/m/virtualService/a.local" {
		t.Errorf("exported implicit service = %+v", vs)
	}
	if _, err := b.DeleteVirtualRouter(testCtx, &DeleteVirtualRouterInput{MeshName: s("m"), VirtualRouterName: s("vr")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no change delivered")
	}
	want := map[string]bool{"virtualRouter/vr": true, "virtualService/a.local": true}
	for _, c := range changes {
		delete(want, c.Kind+"/"+c.Name)
	}
	if len(want) != 0 {
		t.Errorf("changes = %+v; missing %v", changes, want)
	}
	n := 0
	b.Meshes(func(account, region, mesh string) { n++ })
	if n != 1 {
		t.Errorf("Meshes = %d; want 1", n)
	}
}

// TestKeys: store keys and ARNs round-trip, names with '/' included.
func TestKeys(t *testing.T) {
	p := partKey{"111122223333", "eu-west-1"}
	for _, k := range []rkey{
		meshKey("m"), meshKey("a/b"), vnKey("m", "v n"), vrKey("m", "r"), routeKey("m", "r/1", "x"), vsKey("m", "svc.local"),
		vgKey("m", "g"), grKey("m", "g", "gr"),
	} {
		pk, rest, ok1 := (&domain{}).Split(k.storeKey(p))
		got, _, ok := parseRest(rest)
		if !ok1 || !ok || pk != p || got != k {
			t.Errorf("parseRest(Split(%q)) = %+v, %+v, %v; want %+v", k.storeKey(p), pk, got, ok, k)
		}
		if k.mesh == "a/b" || k.parent == "r/1" {
			continue // ARNs do not escape
		}
		pk, got, ok = parseARN(k.arn(p))
		if !ok || pk != p || got != k {
			t.Errorf("parseARN(%q) = %+v, %+v, %v; want %+v", k.arn(p), pk, got, ok, k)
		}
	}
	for _, bad := range []string{"", "arn:aws:appmesh:r:a:mesh", "arn:aws:s3:r:a:mesh/m", "arn:aws:appmesh:r:a:mesh/m/virtualNode", "arn:aws:appmesh:r:a:mesh/m/route/x/y/z"} {
		if _, _, ok := parseARN(bad); ok {
			t.Errorf("parseARN(%q) = ok; want not", bad)
		}
	}
}

// TestSweep: client tokens expire after the retention, and a reused token
// then starts afresh.
func TestSweep(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	st := openStore(t, "")
	t.Cleanup(func() { _ = st.Close() })
	b := newBackend(t, st, Config{Now: func() time.Time { return now }, SweepInterval: time.Hour})
	if _, err := b.CreateMesh(testCtx, &CreateMeshInput{MeshName: s("m"), ClientToken: s("t")}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateMesh(testCtx, &CreateMeshInput{MeshName: s("m2"), ClientToken: s("t")}); code(err) != "ConflictException" {
		t.Fatalf("reused token = %v; want ConflictException", err)
	}
	now = now.Add(DefaultTokenRetention + time.Minute)
	if n, err := b.Sweep(testCtx); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	if _, err := b.CreateMesh(testCtx, &CreateMeshInput{MeshName: s("m2"), ClientToken: s("t")}); err != nil {
		t.Fatalf("token after expiry = %v", err)
	}
}
