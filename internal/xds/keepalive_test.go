package xds

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// TestKeepaliveUnderAppMeshBootstrap: the keepalive pings of App Mesh's
// Envoy bootstrap (grpc.keepalive_time_ms on its ADS channel) come well
// above the xDS port's floor, so timing jitter never counts as abuse.
func TestKeepaliveUnderAppMeshBootstrap(t *testing.T) {
	for _, f := range []string{"appmesh-envoy-bootstrap-virtualnode.yaml", "appmesh-envoy-bootstrap-virtualgateway.yaml"} {
		y, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		var bs struct {
			DynamicResources struct {
				AdsConfig struct {
					GrpcServices []struct {
						GoogleGrpc struct {
							ChannelArgs struct {
								Args map[string]struct {
									IntValue string `json:"intValue"`
								} `json:"args"`
							} `json:"channelArgs"`
						} `json:"googleGrpc"`
					} `json:"grpcServices"`
				} `json:"adsConfig"`
			} `json:"dynamicResources"`
		}
		if err := yaml.Unmarshal(y, &bs); err != nil {
			t.Fatal(err)
		}
		gs := bs.DynamicResources.AdsConfig.GrpcServices
		if len(gs) != 1 {
			t.Fatalf("%s: %d ADS services; want 1", f, len(gs))
		}
		ms, err := strconv.Atoi(gs[0].GoogleGrpc.ChannelArgs.Args["grpc.keepalive_time_ms"].IntValue)
		if err != nil {
			t.Fatalf("%s: grpc.keepalive_time_ms: %v", f, err)
		}
		if ping := time.Duration(ms) * time.Millisecond; keepaliveMinTime > ping/2 {
			t.Errorf("%s pings every %v; the xDS port's keepalive floor %v leaves less than half of it as margin", f, ping, keepaliveMinTime)
		}
	}
}
