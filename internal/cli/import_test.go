package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
)

// runMain runs the command line with args and the environment env.
func runMain(env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(Env{Args: args, Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func TestImport(t *testing.T) {
	srv := servertest.Start(t, server.Config{})
	code, out, errOut := runMain(nil, "import", "-f", "testdata/shop.yaml", "--endpoint", srv.URL)
	if code != 0 {
		t.Fatalf("import = %d; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{
		"note: ignored ConfigMap shop/settings (testdata/shop.yaml:90): not an App Mesh controller kind\n",
		"note: VirtualNode shop/cart-v1: spec.podSelector skipped: Kubernetes only (the pods whose Envoy the controller's injector configures)\n",
		"created      mesh shop (version 1)\n",
		"created      virtual node shop/cart-v1_shop (version 1)\n",
		"created      route shop/cart_shop/canary (version 1)\n",
		"created      virtual service shop/cart.shop.local (version 1)\n",
		"7 created, 0 updated, 0 unchanged\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("first import: stdout lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runMain(nil, "import", "-f", "testdata/shop.yaml", "--endpoint", srv.URL)
	if code != 0 || !strings.HasSuffix(out, "0 created, 0 updated, 7 unchanged\n") {
		t.Errorf("second import = %d:\n%s\nwant every resource unchanged", code, out)
	}

	b, err := os.ReadFile("testdata/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "shop.yaml")
	s := strings.Replace(strings.Replace(string(b), "weight: 90", "weight: 50", 1), "weight: 10", "weight: 50", 1)
	if err := os.WriteFile(changed, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runMain(nil, "import", "-f", changed, "--endpoint", srv.URL, "--dry-run")
	for _, want := range []string{
		"would update route shop/cart_shop/canary (version 1)\n",
		"spec.httpRoute.action.weightedTargets[0].weight: 90 -> 50\n",
		"spec.httpRoute.action.weightedTargets[1].weight: 10 -> 50\n",
		"dry run: 0 to create, 1 to update, 6 unchanged\n",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("dry run = %d: stdout lacks %q:\n%s", code, want, out)
		}
	}
	code, out, _ = runMain(nil, "import", "-f", changed, "--endpoint", srv.URL)
	if code != 0 || !strings.Contains(out, "updated      route shop/cart_shop/canary (version 2)\n") || !strings.HasSuffix(out, "0 created, 1 updated, 6 unchanged\n") {
		t.Errorf("import of the change = %d:\n%s", code, out)
	}
}

func TestImportErrors(t *testing.T) {
	srv := servertest.Start(t, server.Config{})
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(`apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: cart, namespace: shop}
spec:
  meshRef: {name: shop}
  provider: {virtualNode: {virtualNodeRef: {name: gone}}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no -f", []string{"import", "--endpoint", srv.URL}, exitUsage, "mapmesh: import needs -f FILE or -f DIR (run 'mapmesh help')\n"},
		{"an argument", []string{"import", "-f", "testdata/shop.yaml", "extra"}, exitUsage, `import: unexpected argument "extra"`},
		{"a missing file", []string{"import", "-f", "testdata/nope.yaml"}, exitError, "mapmesh: import: stat testdata/nope.yaml: no such file or directory\n"},
		{"problems in the input", []string{"import", "-f", bad, "--endpoint", srv.URL}, exitError,
			"mapmesh: import: nothing was changed; the input has problems:\n" +
				"  VirtualService shop/cart (" + bad + ":1): Mesh shop is not in the input, and there is no mesh shop\n"},
		{"no server", []string{"import", "-f", "testdata/shop.yaml", "--endpoint", "http://127.0.0.1:1", "--timeout", "5s"}, exitError,
			"mapmesh: import: mesh shop (from Mesh shop (testdata/shop.yaml:11)): reading it: operation error App Mesh: DescribeMesh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runMain(nil, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("%q = %d, stderr:\n%s\nwant %d and %q", tc.args, code, errOut, tc.code, tc.want)
			}
		})
	}
}

// TestImportSigV4: against a server with --auth sigv4, the import signs
// with the environment's credentials and acts in their identity's account.
func TestImportSigV4(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("[team]\naws_access_key_id = AKIDIMPORT\naws_secret_access_key = import-secret\naws_account_id = 111111111111\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, server.Config{Auth: server.AuthSigV4, CredentialsFile: creds})
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKIDIMPORT", "AWS_SECRET_ACCESS_KEY": "wrong", "AWS_REGION": "eu-west-1"}
	code, _, errOut := runMain(env, "import", "-f", "testdata/shop.yaml", "--endpoint", srv.URL)
	if code != exitError || !strings.Contains(errOut, "InvalidSignatureException") {
		t.Errorf("import with a wrong secret = %d, stderr:\n%s\nwant %d and InvalidSignatureException", code, errOut, exitError)
	}
	env["AWS_SECRET_ACCESS_KEY"] = "import-secret"
	if code, out, errOut := runMain(env, "import", "-f", "testdata/shop.yaml", "--endpoint", srv.URL); code != 0 {
		t.Fatalf("import = %d:\n%s%s", code, out, errOut)
	}
	am := appmesh.New(appmesh.Options{BaseEndpoint: aws.String(srv.URL), Region: "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDIMPORT", "import-secret", "")})
	out, err := am.DescribeVirtualService(context.Background(), &appmesh.DescribeVirtualServiceInput{MeshName: aws.String("shop"), VirtualServiceName: aws.String("cart.shop.local")})
	if err != nil {
		t.Fatal(err)
	}
	if arn := *out.VirtualService.Metadata.Arn; arn != "arn:aws:appmesh:eu-west-1:111111111111:mesh/shop/virtualService/cart.shop.local" {
		t.Errorf("ARN = %s; want the identity's account and the region of AWS_REGION", arn)
	}
}
