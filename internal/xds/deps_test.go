package xds_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestServerBinaryHasNoGRPCXDS: grpc's xDS client (google.golang.org/grpc/xds,
// about 10 MB of binary) is for tests only; the server binary must not link it.
func TestServerBinaryHasNoGRPCXDS(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/mapmesh/mapmesh/cmd/mapmesh").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "google.golang.org/grpc/xds" || strings.HasPrefix(p, "google.golang.org/grpc/xds/") {
			t.Errorf("cmd/mapmesh depends on %s; keep google.golang.org/grpc/xds in tests", p)
		}
	}
}
