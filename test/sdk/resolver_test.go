package sdk_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// hostLog records the host each operation was sent to, after the SDK
// applied its host prefix.
type hostLog struct {
	mu    sync.Mutex // guards hosts
	hosts map[string]string
}

func (l *hostLog) get(op string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hosts[op]
}

// option is an APIOptions entry that fills l; it changes nothing.
func (l *hostLog) option(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("RecordHost",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				l.mu.Lock()
				if l.hosts == nil {
					l.hosts = map[string]string{}
				}
				l.hosts[middleware.GetOperationName(ctx)] = req.URL.Hostname()
				l.mu.Unlock()
			}
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

// loadConfig loads the SDK's configuration the way most Go programs do
// (external-dns and Terraform's AWS provider among them): from the
// environment and the shared files, here with fixed credentials.
func loadConfig(t *testing.T, l *hostLog) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")),
		config.WithAPIOptions([]func(*middleware.Stack) error{l.option}), config.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// isolate clears the AWS settings of the environment for t, with empty
// shared files.
func isolate(t *testing.T) string {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return empty
}

// TestHostPrefixSettingsIgnored: the Go SDK does not read
// AWS_DISABLE_HOST_PREFIX_INJECTION or disable_host_prefix_injection, so
// they do not help it; the middleware of Example_disableHostPrefix does.
func TestHostPrefixSettingsIgnored(t *testing.T) {
	isolate(t)
	cfgFile := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(cfgFile, []byte("[default]\ndisable_host_prefix_injection = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
	t.Setenv("AWS_ENDPOINT_URL_SERVICEDISCOVERY", endpoint)
	var l hostLog
	sd := servicediscovery.NewFromConfig(loadConfig(t, &l))
	ns := register(context.Background(), sd, nextName("go-ignored"))
	_, err := sd.DiscoverInstances(context.Background(), &servicediscovery.DiscoverInstancesInput{NamespaceName: aws.String(ns), ServiceName: aws.String("web")})
	if err == nil {
		t.Fatal("DiscoverInstances succeeded; want a failure to reach data-127.0.0.1")
	}
	if got := l.get("CreateHttpNamespace"); got != "127.0.0.1" {
		t.Errorf("CreateHttpNamespace went to %q; want 127.0.0.1", got)
	}
	if got := l.get("DiscoverInstances"); got != "data-127.0.0.1" {
		t.Errorf("DiscoverInstances went to %q; want data-127.0.0.1 (the settings ignored)", got)
	}
}

// TestSystemResolver: with no client option at all, and the endpoint from
// AWS_ENDPOINT_URL_SERVICEDISCOVERY and AWS_ENDPOINT_URL_APP_MESH (as
// external-dns is pointed at an endpoint), the forms that rely on the
// machine's name resolution work. It runs inside test/netns/run (make
// test-endpoints).
func TestSystemResolver(t *testing.T) {
	if os.Getenv("MAPMESH_NETNS") != "1" {
		t.Skip("needs test/netns/run (make test-endpoints)")
	}
	port := os.Getenv("MAPMESH_NETNS_PORT")
	myhostname := os.Getenv("MAPMESH_NETNS_MYHOSTNAME") == "1"
	for _, tc := range []struct {
		host string
		// works says whether the form must work here; when false it must
		// fail (DiscoverInstances cannot reach data-<host>).
		works bool
		why   string
	}{
		{"localhost", true, "/etc/hosts maps data-localhost"},
		{"mapmesh.internal", true, "mapmesh's DNS answers both names"},
		// Go's own resolver (no cgo, as in static binaries) does not map
		// *.localhost; with cgo, Go leaves such names to glibc when
		// nsswitch.conf lists myhostname.
		{"mapmesh.localhost", haveCgo && myhostname, map[bool]string{true: "nss-myhostname, through glibc (cgo)",
			false: "Go's own resolver (this binary has no cgo) does not map *.localhost"}[haveCgo]},
		{"127.0.0.1", false, "control: nothing resolves data-127.0.0.1"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			if tc.host == "mapmesh.localhost" && haveCgo && !myhostname {
				t.Skip("no nss-myhostname in this namespace")
			}
			isolate(t)
			t.Setenv("AWS_ENDPOINT_URL_SERVICEDISCOVERY", "http://"+tc.host+":"+port)
			t.Setenv("AWS_ENDPOINT_URL_APP_MESH", "http://"+tc.host+":"+port)
			var l hostLog
			cfg := loadConfig(t, &l)
			ctx := context.Background()
			sd := servicediscovery.NewFromConfig(cfg)
			// Register through the form itself when it must work, else
			// through 127.0.0.1 (operations other than the two discovery
			// ones have no host prefix), so only DiscoverInstances is
			// left to fail.
			reg := sd
			if !tc.works {
				reg = servicediscovery.NewFromConfig(cfg, func(o *servicediscovery.Options) { o.BaseEndpoint = aws.String("http://127.0.0.1:" + port) })
			}
			ns := register(ctx, reg, nextName("go-"+strings.ReplaceAll(tc.host, ".", "-")))
			in := &servicediscovery.DiscoverInstancesInput{NamespaceName: aws.String(ns), ServiceName: aws.String("web")}
			out, err := sd.DiscoverInstances(ctx, in)
			if got := l.get("DiscoverInstances"); got != "data-"+tc.host {
				t.Errorf("DiscoverInstances went to %q; want data-%s", got, tc.host)
			}
			if !tc.works {
				if err == nil {
					t.Fatalf("DiscoverInstances via %s succeeded; want it to fail (%s)", tc.host, tc.why)
				}
				t.Logf("fails as expected (%s): %v", tc.why, err)
				return
			}
			if err != nil {
				t.Fatalf("DiscoverInstances via %s (%s) = %v", tc.host, tc.why, err)
			}
			if len(out.Instances) != 1 || *out.Instances[0].InstanceId != "web-1" {
				t.Errorf("DiscoverInstances found %d instances; want web-1", len(out.Instances))
			}
			if _, err := sd.DiscoverInstancesRevision(ctx, &servicediscovery.DiscoverInstancesRevisionInput{NamespaceName: in.NamespaceName, ServiceName: in.ServiceName}); err != nil {
				t.Errorf("DiscoverInstancesRevision = %v", err)
			}
			am := appmesh.NewFromConfig(cfg)
			mesh := nextName("go-mesh")
			if _, err := am.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: aws.String(mesh)}); err != nil {
				t.Fatal(err)
			}
			if d, err := am.DescribeMesh(ctx, &appmesh.DescribeMeshInput{MeshName: aws.String(mesh)}); err != nil || *d.Mesh.Metadata.Version != 1 {
				t.Errorf("DescribeMesh = %v; want version 1", err)
			}
			if got := l.get("CreateMesh"); got != tc.host {
				t.Errorf("CreateMesh went to %q; want %s", got, tc.host)
			}
		})
	}
}
