package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/etcdstore/etcdtest"
)

func TestSnapshotRestoreUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"etcd without endpoints", []string{"--store", "etcd", "f.snap"}, "needs --etcd-endpoints"},
		{"etcd with a data dir", []string{"--store", "etcd", "--etcd-endpoints", "http://127.0.0.1:1", "--data-dir", "d", "f.snap"}, "takes no --data-dir"},
		{"etcd flag without --store etcd", []string{"--data-dir", "d", "--etcd-prefix", "/p/", "f.snap"}, "--etcd-prefix needs --store etcd"},
		{"unknown store", []string{"--store", "consul", "f.snap"}, "must be bolt or etcd"},
		{"no file", []string{"--store", "etcd", "--etcd-endpoints", "http://127.0.0.1:1"}, "exactly one FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runMain(nil, append([]string{"snapshot", "restore"}, tc.args...)...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("snapshot restore %q = %d, %q; want %d and one line with %q", tc.args, code, errOut, exitUsage, tc.want)
			}
		})
	}
}

// snapshotKeys returns a snapshot file's keys and values (not their
// revisions, which etcd sets).
func snapshotKeys(t *testing.T, file string) []store.KV {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sr, err := store.ReadSnapshot(f)
	if err != nil {
		t.Fatal(err)
	}
	var kvs []store.KV
	for {
		kv, ok, err := sr.Next()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if !ok {
			return kvs
		}
		kvs = append(kvs, store.KV{Key: kv.Key, Value: kv.Value})
	}
}

// TestSnapshotRestoreEtcd saves a bolt server's state, restores it into
// etcd, and checks that a server started on that prefix holds the same
// keys and values; a second restore there, or one into a prefix where a
// server runs, is refused with exit status 1.
func TestSnapshotRestoreEtcd(t *testing.T) {
	etcd, err := etcdtest.StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close) // after the servers stop
	dir := t.TempDir()

	bolt := servertest.Start(t, server.Config{})
	if code, _, errOut := runMain(nil, "import", "-f", "testdata/shop.yaml", "--endpoint", bolt.URL); code != 0 {
		t.Fatalf("import = %d: %s", code, errOut)
	}
	saved := filepath.Join(dir, "bolt.snap")
	if code, _, errOut := runMain(nil, "snapshot", "save", "--endpoint", bolt.URL, saved); code != 0 {
		t.Fatalf("snapshot save = %d: %s", code, errOut)
	}
	want := snapshotKeys(t, saved)
	if len(want) == 0 {
		t.Fatal("the bolt server's snapshot is empty")
	}

	const prefix = "/restored/"
	restore := []string{"snapshot", "restore", "--store", "etcd", "--etcd-endpoints", etcd.Endpoint, "--etcd-prefix", prefix, saved}
	code, out, errOut := runMain(nil, restore...)
	if code != exitOK || !strings.Contains(out, "under "+prefix) {
		t.Fatalf("snapshot restore --store etcd = %d, %q, %q; want success", code, out, errOut)
	}

	srv := servertest.Start(t, server.Config{Store: server.StoreEtcd, EtcdEndpoints: []string{etcd.Endpoint}, EtcdPrefix: prefix})
	served := filepath.Join(dir, "etcd.snap")
	if code, _, errOut := runMain(nil, "snapshot", "save", "--endpoint", srv.URL, served); code != 0 {
		t.Fatalf("snapshot save of the etcd server = %d: %s", code, errOut)
	}
	got := snapshotKeys(t, served)
	if len(got) != len(want) {
		t.Fatalf("server on the restored prefix holds %d keys; want the snapshot's %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Errorf("server on the restored prefix: key %d = %q=%q; want %q=%q", i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
		}
	}

	srv.Stop(t) // no member left: the keys refuse the restore
	code, out, errOut = runMain(nil, restore...)
	if code != exitError || out != "" || !strings.Contains(errOut, prefix+" holds keys") || !strings.Contains(errOut, "--etcd-prefix") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("second snapshot restore into %s = %d, %q, %q; want %d and a one-line refusal", prefix, code, out, errOut, exitError)
	}

	// A server on an empty prefix: a live cluster, though it holds no key.
	const live = "/live/"
	servertest.Start(t, server.Config{Store: server.StoreEtcd, EtcdEndpoints: []string{etcd.Endpoint}, EtcdPrefix: live})
	code, _, errOut = runMain(nil, "snapshot", "restore", "--store", "etcd", "--etcd-endpoints", etcd.Endpoint, "--etcd-prefix", live, saved)
	if code != exitError || !strings.Contains(errOut, "server(s) run on "+live) {
		t.Errorf("snapshot restore under a live server's prefix = %d, %q; want %d, refused for the running server", code, errOut, exitError)
	}
}
