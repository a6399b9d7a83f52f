package boltstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"

	"github.com/mapmesh/mapmesh/internal/store"
)

// crashEnv names the env var that makes the test binary a crash child: it
// holds the path of the store the child writes to.
const crashEnv = "BOLTSTORE_CRASH_CHILD"

const crashWriters = 8

// TestCrashDurability re-executes the test binary as a child that commits
// transactions from several goroutines and prints each acknowledged one. The
// parent SIGKILLs it in the middle of the load, reopens the file, and checks
// that every acknowledged transaction is there and that no transaction is
// half-applied. While the child runs, it also checks that a second process
// cannot open the file.
func TestCrashDurability(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path, os.Getenv(crashTinyEnv) != "")
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	t.Run("defaults", func(t *testing.T) { crashOnce(t, false) })
	// A tiny WAL and eager checkpoints: the kill lands among file switches
	// and checkpoints in progress.
	t.Run("tiny WAL", func(t *testing.T) { crashOnce(t, true) })
}

// crashTinyEnv makes the crash child use tinyWAL.
const crashTinyEnv = "BOLTSTORE_CRASH_TINY"

var tinyWAL = Options{WALSize: 256 << 10, CheckpointKeys: 20, CheckpointInterval: 5 * time.Millisecond}

func crashOnce(t *testing.T, tiny bool) {
	path := filepath.Join(t.TempDir(), "mapmesh.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	if tiny {
		cmd.Env = append(cmd.Env, crashTinyEnv+"=1")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	type ack struct{ w, i, rev int64 }
	var acks []ack
	killAfter := 100 + rand.IntN(300)
	if tiny {
		killAfter = 300 + rand.IntN(1500)
	}
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var a ack
		if _, err := fmt.Sscanf(sc.Text(), "ack %d %d %d", &a.w, &a.i, &a.rev); err != nil {
			continue // test framework output
		}
		acks = append(acks, a)
		if len(acks) == 1 {
			// The child holds the file: another process must fail fast.
			start := time.Now()
			s, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Errorf("Open(%q) while the child holds it succeeded; want a lock error", path)
			} else if !errors.Is(err, berrors.ErrTimeout) {
				t.Errorf("Open(%q) while the child holds it error = %v; want a lock timeout", path, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Open(%q) while the child holds it took %v; want about 100ms", path, d)
			}
		}
		if len(acks) == killAfter && !killed {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
			// Keep reading: acks already written to the pipe count too.
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited before the kill (after %d acks): %v\nstderr:\n%s", len(acks), err, stderr.String())
	}
	t.Logf("killed the child after %d acknowledged transactions (%d read in all)", killAfter, len(acks))

	s := openTest(t, path, Options{})
	kvs, rev, err := s.List(context.Background(), "/crash/")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.KV{}
	for _, kv := range kvs {
		got[kv.Key] = kv
	}
	// Every acknowledged transaction is there.
	for _, a := range acks {
		key := logKey(a.w, a.i)
		kv, ok := got[key]
		if !ok || kv.ModRevision != a.rev || !bytes.Equal(kv.Value, crashValue(a.w, a.i)) {
			t.Errorf("acknowledged txn %d/%d at revision %d: %s = %+v (present %v)", a.w, a.i, a.rev, key, kv, ok)
		}
	}
	// No transaction is half-applied: each writer's transactions form an
	// unbroken sequence, and its a and b keys hold the last one.
	var total int64
	revs := map[int64]bool{}
	for w := range int64(crashWriters) {
		var n int64
		for ; ; n++ {
			kv, ok := got[logKey(w, n)]
			if !ok {
				break
			}
			if revs[kv.ModRevision] {
				t.Errorf("revision %d used by two transactions", kv.ModRevision)
			}
			revs[kv.ModRevision] = true
		}
		total += n
		a, b := got[fmt.Sprintf("/crash/%d/a", w)], got[fmt.Sprintf("/crash/%d/b", w)]
		if n == 0 {
			if a.Key != "" || b.Key != "" {
				t.Errorf("writer %d: a/b present without any log key", w)
			}
			continue
		}
		last := got[logKey(w, n-1)]
		for _, kv := range []store.KV{a, b} {
			if !bytes.Equal(kv.Value, last.Value) || kv.ModRevision != last.ModRevision {
				t.Errorf("writer %d: %s = %.10q@%d; want the last txn's %.10q@%d: half-applied", w, kv.Key, kv.Value, kv.ModRevision, last.Value, last.ModRevision)
			}
		}
	}
	if want := int64(len(kvs)); total+2*int64(countWriters(got)) != want {
		t.Errorf("%d keys under /crash/; want %d log keys plus a and b per writer", want, total)
	}
	// Every revision up to the store's is one whole transaction.
	if total != rev {
		t.Errorf("%d transactions on disk; store revision %d", total, rev)
	}
	for r := int64(1); r <= rev; r++ {
		if !revs[r] {
			t.Errorf("revision %d has no transaction", r)
		}
	}
	t.Logf("%d transactions on disk, revision %d", total, rev)
}

func countWriters(got map[string]store.KV) int {
	n := 0
	for w := range crashWriters {
		if _, ok := got[fmt.Sprintf("/crash/%d/a", w)]; ok {
			n++
		}
	}
	return n
}

func logKey(w, i int64) string { return fmt.Sprintf("/crash/%d/log/%08d", w, i) }

// crashValue is the value of writer w's i-th transaction, padded so that a
// commit spans several pages.
func crashValue(w, i int64) []byte {
	v := fmt.Appendf(nil, "%03d:%04d|", w, i)
	return append(v, bytes.Repeat([]byte{'x'}, 1500)...)
}

// crashChild writes until it is killed (or gives up after a minute).
func crashChild(path string, tiny bool) {
	opts := Options{}
	if tiny {
		opts = tinyWAL
	}
	s, err := Open(path, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex // one ack line per write
	for w := range int64(crashWriters) {
		go func() {
			for i := int64(0); ; i++ {
				v := crashValue(w, i)
				r, err := s.Txn(context.Background(), nil, []store.Op{
					store.Put(fmt.Sprintf("/crash/%d/a", w), v),
					store.Put(logKey(w, i), v),
					store.Put(fmt.Sprintf("/crash/%d/b", w), v),
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %d %d\n", w, i, r.Rev)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Minute)
	fmt.Fprintln(os.Stderr, "crash child was never killed")
	os.Exit(4)
}
