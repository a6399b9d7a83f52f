//go:build e2e

package terraform

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binary returns MAPMESH_BIN, or a mapmesh built into a temporary directory.
func binary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("MAPMESH_BIN"); b != "" {
		return b
	}
	out := filepath.Join(t.TempDir(), "mapmesh")
	cmd := exec.Command("go", "build", "-o", out, "github.com/mapmesh/mapmesh/cmd/mapmesh")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return out
}

// start runs mapmesh on a free loopback port with DNS and xDS off, stopped at
// the end of the test, and returns its API URL.
func start(t *testing.T, bin, dataDir string) string {
	t.Helper()
	cmd := exec.Command(bin, "--api-addr", "127.0.0.1:0", "--dns-addr", "", "--xds-addr", "",
		"--data-dir", dataDir, "--log-format", "text", "--throttle", "off")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, "api_addr="); i >= 0 && strings.Contains(line, "listening") {
				addr <- strings.Fields(line[i+len("api_addr="):])[0]
			}
		}
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("mapmesh did not log its address within 30s")
	}
	return ""
}
