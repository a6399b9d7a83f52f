//go:build e2e

package durability

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignalsStopCleanly: SIGTERM and SIGINT stop the server with status 0
// after it logs that it is shutting down.
func TestSignalsStopCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process")
	}
	bin := binary(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := start(t, bin, t.TempDir())
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- p.cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("after %v the server exited with %v; want status 0", sig, err)
				}
			case <-time.After(15 * time.Second):
				p.cmd.Process.Kill()
				t.Fatalf("the server did not stop within 15s of %v", sig)
			}
		})
	}
}

// TestRefusesToStart: an unusable data directory, a data directory in use by
// another mapmesh, or a taken port make the server exit with status 1 and a
// message saying what is wrong.
func TestRefusesToStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process")
	}
	bin := binary(t)
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busyDir := t.TempDir()
	running := start(t, bin, busyDir)
	defer running.kill(t)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"data dir is a file", []string{"--api-addr", "127.0.0.1:0", "--dns-addr", "", "--xds-addr", "", "--data-dir", file}, "data dir"},
		{"data dir in use", []string{"--api-addr", "127.0.0.1:0", "--dns-addr", "", "--xds-addr", "", "--data-dir", busyDir}, "locked by another process"},
		{"API port taken", []string{"--api-addr", taken.Addr().String(), "--dns-addr", "", "--xds-addr", "", "--data-dir", t.TempDir()}, "cannot listen on API address"},
		{"DNS port taken", []string{"--api-addr", "127.0.0.1:0", "--dns-addr", taken.Addr().String(), "--xds-addr", "", "--data-dir", t.TempDir()}, "DNS"},
		{"xDS port taken", []string{"--api-addr", "127.0.0.1:0", "--dns-addr", "", "--xds-addr", taken.Addr().String(), "--data-dir", t.TempDir()}, "xDS"},
		{"bad flag value", []string{"--log-format", "xml"}, "--log-format"},
		{"bad region", []string{"--api-addr", "127.0.0.1:0", "--dns-addr", "", "--xds-addr", "", "--data-dir", t.TempDir(), "--region", "US_EAST_1"}, "--region"},
		{"open without authentication", []string{"--api-addr", "0.0.0.0:0", "--dns-addr", "", "--xds-addr", "", "--data-dir", t.TempDir()}, "--insecure"},
		{"sigv4 without credentials", []string{"--auth", "sigv4", "--api-addr", "127.0.0.1:0", "--dns-addr", "", "--xds-addr", "", "--data-dir", t.TempDir()}, "--credentials-file"},
		{"unreadable credentials", []string{"--credentials-file", "/nonexistent/credentials", "--api-addr", "127.0.0.1:0", "--dns-addr", "", "--xds-addr", "", "--data-dir", t.TempDir()}, "credentials file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				ee, ok := err.(*exec.ExitError)
				if !ok || ee.ExitCode() == 0 {
					t.Fatalf("mapmesh %s: exit %v; want a non-zero status", strings.Join(tc.args, " "), err)
				}
				if !strings.Contains(stderr.String(), tc.want) {
					t.Errorf("mapmesh %s: stderr %q; want it to mention %q", strings.Join(tc.args, " "), stderr.String(), tc.want)
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("mapmesh %s did not exit within 20s", strings.Join(tc.args, " "))
			}
		})
	}
}
