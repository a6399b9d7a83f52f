//go:build e2e

package durability

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"

	"github.com/mapmesh/mapmesh/internal/store"
)

// mapmesh runs the binary with args and returns its status and output.
func mapmesh(t *testing.T, bin, dir string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// readSnapshot returns a snapshot's revision and its keys (their
// revisions and values), checking its checksum.
func readSnapshot(t *testing.T, file string) (int64, []store.KV) {
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
			t.Fatalf("snapshot %s: %v", file, err)
		}
		if !ok {
			return sr.Header.Revision, kvs
		}
		kvs = append(kvs, kv)
	}
}

// TestSnapshotUnderLoad: a snapshot saved while writers register instances
// is one consistent cut (each writer's registrations are a prefix of what
// it did), and a server restored from it holds exactly the snapshot: the
// same revision, keys, values and key revisions.
func TestSnapshotUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := binary(t)
	p := start(t, bin, t.TempDir())
	defer p.kill(t)
	ctx := context.Background()
	c := client(p.url)
	op, err := c.CreateHttpNamespace(ctx, &sd.CreateHttpNamespaceInput{Name: aws.String("snap")})
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.GetOperation(ctx, &sd.GetOperationInput{OperationId: op.OperationId})
	if err != nil {
		t.Fatal(err)
	}
	nsID := o.Operation.Targets["NAMESPACE"]
	svc, err := c.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String("load"), NamespaceId: &nsID})
	if err != nil {
		t.Fatal(err)
	}
	const writers = 4
	var stop atomic.Bool
	var wg sync.WaitGroup
	acked := make([]atomic.Int64, writers)
	for w := range writers {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				_, err := c.RegisterInstance(ctx, &sd.RegisterInstanceInput{ServiceId: svc.Service.Id,
					InstanceId: aws.String(fmt.Sprintf("w%d-%06d", w, i)), Attributes: map[string]string{"seq": strconv.Itoa(i)}})
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				acked[w].Store(int64(i + 1))
			}
		})
	}
	dir := t.TempDir()
	for acked[0].Load() < 50 {
	}
	status, out := mapmesh(t, bin, dir, "snapshot", "save", "--endpoint", p.url, "first.snap")
	if status != 0 {
		t.Fatalf("snapshot save = %d: %s", status, out)
	}
	for acked[0].Load() < 100 { // the load goes on past the snapshot
	}
	stop.Store(true)
	wg.Wait()
	rev, kvs := readSnapshot(t, filepath.Join(dir, "first.snap"))
	// One consistent cut: each writer's instances are 0..k-1, no gap.
	seen := make([]map[int]bool, writers)
	for i := range seen {
		seen[i] = map[int]bool{}
	}
	for _, kv := range kvs {
		if strings.Contains(kv.Key, "/inst/") {
			var w, n int
			if _, err := fmt.Sscanf(kv.Key[strings.LastIndex(kv.Key, "/")+1:], "w%d-%d", &w, &n); err == nil {
				seen[w][n] = true
			}
		}
	}
	for w := range writers {
		for n := range len(seen[w]) {
			if !seen[w][n] {
				t.Errorf("snapshot at revision %d: writer %d's instance %d is missing, %d later ones are there", rev, w, n, len(seen[w]))
				break
			}
		}
		if int64(len(seen[w])) >= acked[w].Load() {
			t.Logf("writer %d: all %d registrations in the snapshot", w, len(seen[w]))
		}
	}

	// Restore into a new directory, start a server on it, save again:
	// the same state at the same revision.
	status, out = mapmesh(t, bin, dir, "snapshot", "restore", "--data-dir", filepath.Join(dir, "restored"), "first.snap")
	if status != 0 {
		t.Fatalf("snapshot restore = %d: %s", status, out)
	}
	status, out = mapmesh(t, bin, dir, "snapshot", "restore", "--data-dir", filepath.Join(dir, "restored"), "first.snap")
	if status == 0 || !strings.Contains(out, "not empty") {
		t.Errorf("snapshot restore into a non-empty directory = %d %q; want a refusal", status, out)
	}
	r := start(t, bin, filepath.Join(dir, "restored"))
	defer r.kill(t)
	if status, out = mapmesh(t, bin, dir, "snapshot", "save", "--endpoint", r.url, "second.snap"); status != 0 {
		t.Fatalf("snapshot save of the restored server = %d: %s", status, out)
	}
	rev2, kvs2 := readSnapshot(t, filepath.Join(dir, "second.snap"))
	if rev2 != rev || len(kvs2) != len(kvs) {
		t.Fatalf("restored server: revision %d with %d keys; want the snapshot's %d with %d", rev2, len(kvs2), rev, len(kvs))
	}
	for i := range kvs {
		a, b := kvs[i], kvs2[i]
		if a.Key != b.Key || a.CreateRevision != b.CreateRevision || a.ModRevision != b.ModRevision || !bytes.Equal(a.Value, b.Value) {
			t.Fatalf("restored key %d = %s@%d/%d; want %s@%d/%d (same value)", i, b.Key, b.CreateRevision, b.ModRevision, a.Key,
				a.CreateRevision, a.ModRevision)
		}
	}
	// And it serves the state through the API.
	out2, err := client(r.url).ListInstances(ctx, &sd.ListInstancesInput{ServiceId: svc.Service.Id, MaxResults: aws.Int32(100)})
	if err != nil || len(out2.Instances) == 0 {
		t.Errorf("ListInstances on the restored server = %v, %v", out2, err)
	}
}

// TestCommandLine: subcommands and their errors; a stray argument never
// starts a server (nor creates a data directory).
func TestCommandLine(t *testing.T) {
	bin := binary(t)
	for _, tc := range []struct {
		args   []string
		status int
		out    string
	}{
		{[]string{"--version"}, 0, "mapmesh "},
		{[]string{"version"}, 0, "mapmesh "},
		{[]string{"help"}, 0, "snapshot save"},
		{[]string{"nonsense"}, 2, `unknown command "nonsense"`},
		{[]string{"serve", "stray"}, 2, `unexpected argument "stray"`},
		{[]string{"--no-such-flag"}, 2, "no-such-flag"},
		{[]string{"snapshot"}, 2, "save or restore"},
		{[]string{"snapshot", "restore", "x.snap"}, 2, "--data-dir"},
		{[]string{"snapshot", "restore", "--data-dir", "d"}, 2, "one FILE"},
	} {
		dir := t.TempDir()
		status, out := mapmesh(t, bin, dir, tc.args...)
		if status != tc.status || !strings.Contains(out, tc.out) {
			t.Errorf("mapmesh %s = %d %q; want %d with %q", strings.Join(tc.args, " "), status, out, tc.status, tc.out)
		}
		if tc.status == 2 && strings.Count(out, "\n") > 1 {
			t.Errorf("mapmesh %s printed %d lines; want one", strings.Join(tc.args, " "), strings.Count(out, "\n"))
		}
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Errorf("mapmesh %s created %v", strings.Join(tc.args, " "), entries[0].Name())
		}
	}
}
