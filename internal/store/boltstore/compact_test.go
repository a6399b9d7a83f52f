package boltstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/mapmesh/mapmesh/internal/store"
)

// churned is a store file most of which is free: what a compaction is for.
type churned struct {
	path   string
	size   int64
	rev    int64
	digest string // of every key, value and revision
	keys   int
}

// compactTestOpts compact from 1 MiB.
var compactTestOpts = Options{CompactMinSize: 1 << 20}

// churnValue is the length of churn's values: one to a bbolt page, so that
// a file of some size takes few keys (and tests under -race little time).
const churnValue = 4000

// churn makes a store file at path that held n keys /c/%07d of churnValue
// bytes and deletes those that keep does not keep. Like bulkLoad, it
// writes into bbolt directly, which is much faster than through Txn (the
// keys are at revision 1); then one Txn, at revision 2.
func churn(t testing.TB, path string, n int, keep func(i int) bool) churned {
	t.Helper()
	bo := boltOptions(Options{LockTimeout: time.Second})
	bo.NoSync = true
	db, err := bolt.Open(path, 0o600, bo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := initDB(db); err != nil {
		t.Fatal(err)
	}
	value := encodeValue(1, 1, make([]byte, churnValue))
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(kvBucket)
		for i := range n {
			if err := b.Put(fmt.Appendf(nil, "/c/%07d", i), value); err != nil {
				return err
			}
		}
		return tx.Bucket(metaBucket).Put(revKey, encodeRev(1))
	})
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(kvBucket)
			for i := range n {
				if !keep(i) {
					if err := b.Delete(fmt.Appendf(nil, "/c/%07d", i)); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	if err == nil {
		err = db.Sync()
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{CompactMinSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Txn(context.Background(), nil, []store.Op{store.Put("/other", []byte("x"))}); err != nil {
		t.Fatal(err)
	}
	c := churned{path: path}
	c.digest, c.keys, c.rev = digest(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	c.size = fi.Size()
	return c
}

// digest hashes every key of the store, with its value and revisions.
func digest(t testing.TB, s *Store) (sum string, keys int, rev int64) {
	t.Helper()
	h := sha256.New()
	rev, err := s.Scan(context.Background(), "", func(kv store.KV) error {
		keys++
		h.Write([]byte(kv.Key))
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(kv.CreateRevision)))
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(kv.ModRevision)))
		h.Write(kv.Value)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan error = %v", err)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), keys, rev
}

// check opens the store at path and compares it with c.
func (c churned) check(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := openTest(t, path, opts)
	if sum, keys, rev := digest(t, s); sum != c.digest || rev != c.rev {
		t.Fatalf("store at %s: %d keys at revision %d (digest %.8s); want %d at %d (%.8s)", path, keys, rev, sum, c.keys, c.rev, c.digest)
	}
	if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s%s exists after Open (%v); want it removed", path, compactSuffix, err)
	}
	return s
}

// copyTo copies the churned file to a new directory.
func (c churned) copyTo(t testing.TB) string {
	t.Helper()
	src, err := os.Open(c.path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(t.TempDir(), "mapmesh.db")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// oneIn keeps one key in n.
func oneIn(n int) func(int) bool { return func(i int) bool { return i%n == 0 } }

func TestCompactAtOpen(t *testing.T) {
	c := churn(t, filepath.Join(t.TempDir(), "mapmesh.db"), 10_000, oneIn(20))
	var logs bytes.Buffer
	opts := compactTestOpts
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s := c.check(t, c.path, opts)
	st := s.Stats()
	t.Logf("compacted %d -> %d bytes in %v; free after: %d", st.Compaction.OldSize, st.Compaction.NewSize, st.Compaction.Took, st.FreeBytes)
	if st.Compaction.At.IsZero() || st.Compaction.OldSize != c.size {
		t.Fatalf("Stats().Compaction = %+v; want a compaction of the %d-byte file", st.Compaction, c.size)
	}
	if st.Compaction.NewSize > c.size/2 || st.FileSize != st.Compaction.NewSize {
		t.Errorf("Stats() = file %d bytes, compaction %+v; want the file under half of %d", st.FileSize, st.Compaction, c.size)
	}
	if st.FreeBytes > 1<<20 {
		t.Errorf("Stats().FreeBytes = %d of %d after compaction; want next to nothing", st.FreeBytes, st.FileSize)
	}
	if !strings.Contains(logs.String(), "boltstore: compacted") {
		t.Errorf("logs = %q; want the compaction", logs.String())
	}
	// The compacted store takes writes, and does not compact again.
	ctx := context.Background()
	if _, err := s.Txn(ctx, nil, []store.Op{store.Put("/after", []byte("x")), store.Delete("/other")}); err != nil {
		t.Fatal(err)
	}
	kvs, rev, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, c.path, compactTestOpts)
	if st := s.Stats(); !st.Compaction.At.IsZero() {
		t.Errorf("second Open compacted again: %+v", st.Compaction)
	}
	kvs2, rev2, err := s.List(ctx, "")
	if err != nil || rev2 != rev || len(kvs2) != len(kvs) {
		t.Errorf("after reopen: %d keys at %d, %v; want %d at %d", len(kvs2), rev2, err, len(kvs), rev)
	}
}

func TestCompactWhen(t *testing.T) {
	mostlyFree := churn(t, filepath.Join(t.TempDir(), "mapmesh.db"), 5_000, oneIn(20))
	thirdFree := churn(t, filepath.Join(t.TempDir(), "mapmesh.db"), 5_000, func(i int) bool { return i%3 != 0 })
	tests := []struct {
		name    string
		file    churned
		minSize int64
		want    bool
	}{
		{"mostly free", mostlyFree, 1 << 20, true},
		{"smaller than the default floor", mostlyFree, 0, false},
		{"smaller than the floor", mostlyFree, mostlyFree.size + 1, false},
		{"at the floor", mostlyFree, mostlyFree.size, true},
		{"never", mostlyFree, -1, false},
		{"a third free", thirdFree, 1 << 20, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.file.copyTo(t)
			s := tc.file.check(t, path, Options{CompactMinSize: tc.minSize})
			st := s.Stats()
			if got := !st.Compaction.At.IsZero(); got != tc.want {
				t.Errorf("Open(CompactMinSize %d) of a %d-byte file, %d free: compacted = %v; want %v", tc.minSize, st.FileSize, st.FreeBytes, got, tc.want)
			}
		})
	}
}

var errInjected = errors.New("injected failure")

// TestCompactFailure fails a compaction at each step before the rename,
// as a full disk would: Open goes on with the old file, whole, and
// removes the unfinished copy; the next Open compacts.
func TestCompactFailure(t *testing.T) {
	c := churn(t, filepath.Join(t.TempDir(), "mapmesh.db"), 5_000, oneIn(20))
	for _, step := range []string{"start", "copied", "synced"} {
		t.Run(step, func(t *testing.T) {
			path := c.copyTo(t)
			compactHook = func(s string) error {
				if s == step {
					return errInjected
				}
				return nil
			}
			t.Cleanup(func() { compactHook = nil })
			var logs bytes.Buffer
			opts := compactTestOpts
			opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			s := c.check(t, path, opts)
			st := s.Stats()
			if !st.Compaction.At.IsZero() || st.FileSize != c.size {
				t.Errorf("Open with a compaction failing at %s: file %d bytes, compaction %+v; want the old %d-byte file", step, st.FileSize, st.Compaction, c.size)
			}
			if !strings.Contains(logs.String(), "compaction failed") || !strings.Contains(logs.String(), errInjected.Error()) {
				t.Errorf("logs = %q; want the failed compaction", logs.String())
			}
			// It takes writes, and they survive a compaction.
			if _, err := s.Txn(context.Background(), nil, []store.Op{store.Put("/after", []byte("x"))}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			compactHook = nil
			s = openTest(t, path, Options{CompactMinSize: compactTestOpts.CompactMinSize, Logger: slog.New(slog.DiscardHandler)})
			if st := s.Stats(); st.Compaction.At.IsZero() {
				t.Errorf("Open after a failed compaction did not compact: %+v", st)
			}
			if kv, err := s.Get(context.Background(), "/after"); err != nil || string(kv.Value) != "x" {
				t.Errorf("Get(%q) after compaction = %q, %v; want %q", "/after", kv.Value, err, "x")
			}
		})
	}
}

// TestCompactLeftover: Open removes what an interrupted compaction left,
// whether it compacts or not.
func TestCompactLeftover(t *testing.T) {
	c := churn(t, filepath.Join(t.TempDir(), "mapmesh.db"), 5_000, oneIn(20))
	for _, tc := range []struct {
		name    string
		minSize int64
	}{{"compacting", compactTestOpts.CompactMinSize}, {"not compacting", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			path := c.copyTo(t)
			// Half a copy: the start of the file, as a copy cut short.
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+compactSuffix, data[:len(data)/3], 0o600); err != nil {
				t.Fatal(err)
			}
			s := c.check(t, path, Options{CompactMinSize: tc.minSize})
			if compacted := !s.Stats().Compaction.At.IsZero(); compacted != (tc.minSize > 0) {
				t.Errorf("Open(CompactMinSize %d) compacted = %v", tc.minSize, compacted)
			}
		})
	}
}

// TestCompactAfterReplay opens a file whose latest writes are only in the
// write-ahead log (the image of a crash before their checkpoint): Open
// replays them, then compacts, and the compacted file holds them.
func TestCompactAfterReplay(t *testing.T) {
	c := churn(t, filepath.Join(t.TempDir(), "mapmesh.db"), 5_000, func(i int) bool { return i%3 != 0 })
	ctx := context.Background()
	s := openTest(t, c.path, Options{CompactMinSize: -1, CheckpointKeys: 1 << 30, CheckpointInterval: time.Hour})
	// Delete most of what is left, and write a key, in the log only: the
	// file alone is not mostly free, the file with the log replayed is.
	var ops []store.Op
	for i := range 5_000 {
		if i%3 != 0 && i%30 != 1 {
			ops = append(ops, store.Delete(fmt.Sprintf("/c/%07d", i)))
		}
		if len(ops) == DefaultMaxTxnOps {
			if _, err := s.Txn(ctx, nil, ops); err != nil {
				t.Fatal(err)
			}
			ops = nil
		}
	}
	ops = append(ops, store.Put("/wal-only", []byte("x")))
	if _, err := s.Txn(ctx, nil, ops); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().Checkpoints; n != 0 {
		t.Fatalf("Stats().Checkpoints = %d; want the writes in the log only", n)
	}
	want := churned{path: c.path}
	want.digest, want.keys, want.rev = digest(t, s)
	// The crash image: the file and the log as they are now.
	dir := t.TempDir()
	for _, suffix := range []string{"", ".wal.0", ".wal.1"} {
		data, err := os.ReadFile(c.path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "mapmesh.db"+suffix), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "mapmesh.db")
	db, err := openDB(path, Options{LockTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	size, free, err := usage(db, path, db.Info().PageSize)
	_ = db.Close()
	if err != nil || free*2 > size {
		t.Fatalf("the file without its log: %d bytes, %d free, %v; want less than half free", size, free, err)
	}
	s2 := want.check(t, path, compactTestOpts)
	st := s2.Stats()
	if st.Compaction.At.IsZero() || st.FileSize >= size/2 {
		t.Fatalf("Open of a file mostly free once its log is replayed: file %d bytes (was %d), compaction %+v; want it compacted", st.FileSize, size, st.Compaction)
	}
	// The compacted file itself is at the log's revision: the replay was
	// in it before the copy.
	var rev int64
	if err := s2.db.View(func(tx *bolt.Tx) error {
		var err error
		rev, err = readMeta(tx.Bucket(metaBucket))
		return err
	}); err != nil || rev != want.rev {
		t.Errorf("revision in the compacted file = %d, %v; want %d", rev, err, want.rev)
	}
}

// compactChildEnv names the env var that makes the test binary a child
// that opens (and compacts) the store at the path it holds, pausing at
// the step named by compactStepEnv.
const (
	compactChildEnv = "BOLTSTORE_COMPACT_CHILD"
	compactStepEnv  = "BOLTSTORE_COMPACT_STEP"
)

// TestCompactCrash kills a process with SIGKILL at each step of a
// compaction (and in the middle of the copy): the file at the path must
// then be whole, the old one or the new, with every key; the next Open
// removes the unfinished copy and compacts again if it is still due.
func TestCompactCrash(t *testing.T) {
	if path := os.Getenv(compactChildEnv); path != "" {
		compactChild(path, os.Getenv(compactStepEnv))
		return
	}
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	c := churn(t, filepath.Join(t.TempDir(), "mapmesh.db"), 7_500, oneIn(3))
	for _, step := range []string{"start", "copying", "copied", "synced", "renamed"} {
		t.Run(step, func(t *testing.T) {
			path := c.copyTo(t)
			child := startCompactChild(t, path, step)
			wait := "at " + step
			if step == "copying" {
				wait = "at start"
			}
			child.waitFor(t, wait)
			if step == "copying" {
				time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
			}
			child.kill(t)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			_, tmpErr := os.Stat(path + compactSuffix)
			t.Logf("killed at %s: file %d bytes (was %d), unfinished copy left: %v", step, fi.Size(), c.size, tmpErr == nil)
			if renamed := fi.Size() != c.size; renamed != (step == "renamed") {
				t.Errorf("after a kill at %s: file is %d bytes, the old one %d; want the %s one", step, fi.Size(), c.size, map[bool]string{true: "new", false: "old"}[step == "renamed"])
			}
			// The file as the kill left it.
			s := c.check(t, path, Options{CompactMinSize: -1})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			// And compacted, if it was not yet.
			s = c.check(t, path, compactTestOpts)
			if compacted := !s.Stats().Compaction.At.IsZero(); compacted == (step == "renamed") {
				t.Errorf("Open after a kill at %s compacted = %v", step, compacted)
			}
		})
	}
}

// TestCompactLockHandover: an Open that waits for the lock of a file that
// a compaction replaces does not open the old, unlinked file when the
// compacting process lets go of it: it waits for the new one's lock.
func TestCompactLockHandover(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	c := churn(t, filepath.Join(t.TempDir(), "mapmesh.db"), 5_000, oneIn(20))
	path := c.copyTo(t)
	child := startCompactChild(t, path, "synced")
	child.waitFor(t, "at synced")
	type result struct {
		s   *Store
		err error
	}
	opened := make(chan result, 1)
	go func() {
		s, err := Open(path, Options{LockTimeout: 3 * time.Second, CompactMinSize: -1})
		opened <- result{s, err}
	}()
	time.Sleep(200 * time.Millisecond) // let Open wait for the old file's lock
	child.resume(t)
	child.waitFor(t, "opened")
	select {
	case r := <-opened:
		if r.err == nil {
			r.s.Close()
			t.Fatalf("Open while another process compacted and holds the store succeeded; want a lock timeout")
		}
		if !errors.Is(r.err, berrors.ErrTimeout) {
			t.Errorf("Open while another process holds the store error = %v; want a lock timeout", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open did not return")
	}
	child.kill(t)
	c.check(t, path, Options{CompactMinSize: -1})
}

type compactChildProc struct {
	cmd    *exec.Cmd
	lines  *bufio.Scanner
	stdin  io.WriteCloser
	stderr *bytes.Buffer
}

func startCompactChild(t *testing.T, path, step string) *compactChildProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCompactCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), compactChildEnv+"="+path, compactStepEnv+"="+step)
	p := &compactChildProc{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p.lines = bufio.NewScanner(stdout)
	return p
}

func (p *compactChildProc) waitFor(t *testing.T, line string) {
	t.Helper()
	for p.lines.Scan() {
		if p.lines.Text() == line {
			return
		}
	}
	t.Fatalf("child ended before %q; stderr:\n%s", line, p.stderr.String())
}

func (p *compactChildProc) resume(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
}

func (p *compactChildProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

// compactChild opens the store at path, compacting it, and stops at step
// (waiting for a line on stdin), or, for "copying", says when the copy
// starts and goes on. Once open, it says so and waits to be killed.
func compactChild(path, step string) {
	in := bufio.NewReader(os.Stdin)
	compactHook = func(s string) error {
		if s == step || (step == "copying" && s == "start") {
			fmt.Println("at " + s)
			if step != "copying" {
				_, _ = in.ReadString('\n')
			}
		}
		return nil
	}
	s, err := Open(path, compactTestOpts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("opened")
	_, _ = in.ReadString('\n')
	_ = s // killed while it holds the store
	time.Sleep(time.Minute)
	os.Exit(3)
}

// BenchmarkOpenCompact opens a store file that held keys of 4 KB (one to
// a page), most of them deleted since, with compaction (ns/op is Open's
// time, compaction included) and without. By default the file held 12,500
// keys (50 MB) and keeps 5% of them; BOLTSTORE_COMPACT_KEYS=100000 makes a
// file of 400 MB, and BOLTSTORE_COMPACT_KEEP (percent) sets how much of it
// is live.
func BenchmarkOpenCompact(b *testing.B) {
	n, keep := 12_500, 5
	for env, v := range map[string]*int{"BOLTSTORE_COMPACT_KEYS": &n, "BOLTSTORE_COMPACT_KEEP": &keep} {
		if s := os.Getenv(env); s != "" {
			if _, err := fmt.Sscan(s, v); err != nil {
				b.Fatalf("%s=%q: %v", env, s, err)
			}
		}
	}
	c := churn(b, filepath.Join(b.TempDir(), "mapmesh.db"), n, func(i int) bool { return i%100 < keep })
	quiet := slog.New(slog.DiscardHandler)
	for _, minSize := range []int64{1 << 20, -1} {
		name := "compact"
		if minSize < 0 {
			name = "as-is"
		}
		b.Run(name, func(b *testing.B) {
			var st Stats
			for range b.N {
				b.StopTimer()
				path := c.copyTo(b)
				b.StartTimer()
				s, err := Open(path, Options{CompactMinSize: minSize, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				st = s.Stats()
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(c.size)/(1<<20), "old-MiB")
			b.ReportMetric(float64(st.FileSize)/(1<<20), "new-MiB")
			b.ReportMetric(st.Compaction.Took.Seconds(), "compact-s")
		})
	}
}
