package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/aws/smithy-go"

	"github.com/mapmesh/mapmesh/internal/server"
)

// Two teams, each an identity of its own account. The clients of this
// package sign with the secret "secret-" + access key.
const (
	keyA, accountA = "AKIDTEAMA0000000", "111111111111"
	keyB, accountB = "AKIDTEAMB0000000", "222222222222"
)

// startAuth runs a server that verifies SigV4 against a credentials file of
// team A and team B.
func startAuth(t *testing.T, cfg server.Config) *harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials")
	creds := fmt.Sprintf("[team-a]\naws_access_key_id = %s\naws_secret_access_key = secret-%s\naws_account_id = %s\n\n"+
		"[team-b]\naws_access_key_id = %s\naws_secret_access_key = secret-%s\naws_account_id = %s\n", keyA, keyA, accountA, keyB, keyB, accountB)
	if err := os.WriteFile(path, []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.CredentialsFile = path
	return start(t, cfg)
}

// sdWithSecret and meshWithSecret are clients that sign with a secret of
// the test's choice.
func (h *harness) sdWithSecret(key, secret string) *sd.Client {
	return sd.New(sd.Options{Region: defaultRegion, BaseEndpoint: aws.String(h.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""), Retryer: aws.NopRetryer{},
		HTTPClient: &http.Client{Transport: h.transport(), Timeout: 30 * time.Second}})
}

func (h *harness) meshWithSecret(key, secret string) *am.Client {
	return am.New(am.Options{Region: defaultRegion, BaseEndpoint: aws.String(h.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""), Retryer: aws.NopRetryer{},
		HTTPClient: &http.Client{Transport: h.transport(), Timeout: 30 * time.Second}})
}

func (h *harness) transport() *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	addr := h.srv.Addr
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, addr)
	}}
	h.mu.Lock()
	h.transports = append(h.transports, tr)
	h.mu.Unlock()
	return tr
}

// authError requires err to be the API error code with HTTP status.
func authError(t *testing.T, what string, err error, code string, status int, inMessage string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Errorf("%s = %v; want %s", what, err, code)
		return
	}
	var re *awshttp.ResponseError
	got := 0
	if errors.As(err, &re) {
		got = re.HTTPStatusCode()
	}
	if ae.ErrorCode() != code || got != status || !strings.Contains(ae.ErrorMessage(), inMessage) {
		t.Errorf("%s = %d %s %q; want %d %s with %q", what, got, ae.ErrorCode(), ae.ErrorMessage(), status, code, inMessage)
	}
}

// TestSigV4 drives both APIs with the AWS SDK for Go: a signature of a
// known identity is served in that identity's account, and every way a
// signature can be wrong gets AWS's error, with the status each protocol
// uses (400 for AWS JSON 1.1, 403 for rest-json).
func TestSigV4(t *testing.T) {
	t.Parallel()
	h := startAuth(t, server.Config{})
	okSD, okMesh := h.client(keyA, defaultRegion), h.meshClient(keyA, defaultRegion)
	nsID, _ := createHTTPNamespace(t, okSD, uniq("auth"))
	ns, err := okSD.GetNamespace(bg, &sd.GetNamespaceInput{Id: &nsID})
	if err != nil || !strings.Contains(aws.ToString(ns.Namespace.Arn), ":"+accountA+":") {
		t.Fatalf("GetNamespace as team A = %v, %v; want the namespace in account %s", ns, err, accountA)
	}
	mesh, err := okMesh.CreateMesh(bg, &am.CreateMeshInput{MeshName: aws.String(uniq("m"))})
	if err != nil || aws.ToString(mesh.Mesh.Metadata.MeshOwner) != accountA {
		t.Fatalf("CreateMesh as team A = %v, %v; want a mesh owned by %s", mesh, err, accountA)
	}
	for _, tc := range []struct {
		name, key, secret, code, msg string
	}{
		{"wrong secret", keyA, "not-the-secret", "InvalidSignatureException", "does not match"},
		{"unknown key", "AKIDNOBODY000000", "secret-AKIDNOBODY000000", "UnrecognizedClientException", "security token included in the request is invalid"},
	} {
		_, err := h.sdWithSecret(tc.key, tc.secret).ListNamespaces(bg, &sd.ListNamespacesInput{})
		authError(t, "Cloud Map, "+tc.name, err, tc.code, 400, tc.msg)
		_, err = h.meshWithSecret(tc.key, tc.secret).ListMeshes(bg, &am.ListMeshesInput{})
		authError(t, "App Mesh, "+tc.name, err, tc.code, 403, tc.msg)
	}

	// What the SDKs never send: no signature, half a signature, an old one.
	sign := func(r *http.Request, body string, service string, at time.Time) {
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(bg, aws.Credentials{AccessKeyID: keyA, SecretAccessKey: "secret-" + keyA}, r,
			hex.EncodeToString(sum[:]), service, defaultRegion, at); err != nil {
			t.Fatal(err)
		}
	}
	raw := func(rest bool, mutate func(r *http.Request, body string)) (int, string, string) {
		body, r := `{}`, (*http.Request)(nil)
		if rest {
			body = ""
			r, _ = http.NewRequest("GET", h.srv.URL+"/v20190125/meshes", nil)
		} else {
			r, _ = http.NewRequest("POST", h.srv.URL+"/", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
			r.Header.Set("X-Amz-Target", targetPrefix+".ListNamespaces")
		}
		mutate(r, body)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), string(b)
	}
	for _, tc := range []struct {
		name, code, msg string
		mutate          func(rest bool) func(r *http.Request, body string)
	}{
		{"no signature", "MissingAuthenticationTokenException", "Missing Authentication Token",
			func(bool) func(*http.Request, string) { return func(*http.Request, string) {} }},
		{"no Signature part", "IncompleteSignatureException", "'Signature'", func(rest bool) func(*http.Request, string) {
			return func(r *http.Request, body string) {
				sign(r, body, map[bool]string{true: "appmesh", false: "servicediscovery"}[rest], time.Now())
				a := r.Header.Get("Authorization")
				r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
			}
		}},
		{"signed 20 minutes ago", "InvalidSignatureException", "Signature expired", func(rest bool) func(*http.Request, string) {
			return func(r *http.Request, body string) {
				sign(r, body, map[bool]string{true: "appmesh", false: "servicediscovery"}[rest], time.Now().Add(-20*time.Minute))
			}
		}},
		{"scoped to the other service", "InvalidSignatureException", "correct service", func(rest bool) func(*http.Request, string) {
			return func(r *http.Request, body string) {
				sign(r, body, map[bool]string{true: "servicediscovery", false: "appmesh"}[rest], time.Now())
			}
		}},
	} {
		for _, rest := range []bool{false, true} {
			status, code, body := raw(rest, tc.mutate(rest))
			want := map[bool]int{false: 400, true: 403}[rest]
			if status != want || code != tc.code || !strings.Contains(body, tc.msg) {
				t.Errorf("%s (rest-json %v) = %d %s %s; want %d %s with %q", tc.name, rest, status, code, body, want, tc.code, tc.msg)
			}
		}
	}

	// The admin endpoints need a signature too.
	resp, err := http.Post(h.srv.URL+"/_mapmesh/reset", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned POST /_mapmesh/reset = %d %s; want 403 MissingAuthenticationTokenException", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	if _, err := okSD.GetNamespace(bg, &sd.GetNamespaceInput{Id: &nsID}); err != nil {
		t.Errorf("the refused reset reset something: %v", err)
	}
	// Health stays open for probes.
	resp, err = http.Get(h.srv.URL + "/_mapmesh/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("unsigned GET /_mapmesh/health = %d; want 200", resp.StatusCode)
	}
}

// TestAccountsApart: with verified identities, team B cannot see, change
// or learn of team A's resources, in either API; tokens, quotas and names
// are per account.
func TestAccountsApart(t *testing.T) {
	t.Parallel()
	h := startAuth(t, server.Config{Quotas: smallQuotas})
	a, b := h.client(keyA, defaultRegion), h.client(keyB, defaultRegion)
	ma, mb := h.meshClient(keyA, defaultRegion), h.meshClient(keyB, defaultRegion)

	// Team A's Cloud Map resources.
	nsName := uniq("apart")
	nsID, opID := createHTTPNamespace(t, a, nsName)
	svc := createService(t, a, &sd.CreateServiceInput{Name: aws.String("web"), NamespaceId: &nsID, CreatorRequestId: aws.String("same-token"),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}})
	register(t, a, *svc.Id, "i-1", ipv4(1))
	if _, err := a.UpdateServiceAttributes(bg, &sd.UpdateServiceAttributesInput{ServiceId: svc.Id, Attributes: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}

	notFound := func(what string, err error, code string) {
		t.Helper()
		if !isTypedError(err, code) {
			t.Errorf("team B: %s = %v; want %s", what, err, code)
		}
	}
	_, err := b.GetNamespace(bg, &sd.GetNamespaceInput{Id: &nsID})
	notFound("GetNamespace(A's)", err, "NamespaceNotFound")
	_, err = b.DeleteNamespace(bg, &sd.DeleteNamespaceInput{Id: &nsID})
	notFound("DeleteNamespace(A's)", err, "NamespaceNotFound")
	_, err = b.GetService(bg, &sd.GetServiceInput{Id: svc.Id})
	notFound("GetService(A's)", err, "ServiceNotFound")
	_, err = b.DeleteService(bg, &sd.DeleteServiceInput{Id: svc.Id})
	notFound("DeleteService(A's)", err, "ServiceNotFound")
	_, err = b.GetServiceAttributes(bg, &sd.GetServiceAttributesInput{ServiceId: svc.Id})
	notFound("GetServiceAttributes(A's)", err, "ServiceNotFound")
	_, err = b.ListInstances(bg, &sd.ListInstancesInput{ServiceId: svc.Id})
	notFound("ListInstances(A's)", err, "ServiceNotFound")
	_, err = b.GetInstance(bg, &sd.GetInstanceInput{ServiceId: svc.Id, InstanceId: aws.String("i-1")})
	notFound("GetInstance(A's)", err, "ServiceNotFound")
	_, err = b.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: svc.Id, InstanceId: aws.String("intruder"), Attributes: ipv4(9)})
	notFound("RegisterInstance(A's service)", err, "ServiceNotFound")
	_, err = b.DeregisterInstance(bg, &sd.DeregisterInstanceInput{ServiceId: svc.Id, InstanceId: aws.String("i-1")})
	notFound("DeregisterInstance(A's)", err, "ServiceNotFound")
	_, err = b.GetOperation(bg, &sd.GetOperationInput{OperationId: &opID})
	notFound("GetOperation(A's)", err, "OperationNotFound")
	_, err = b.ListTagsForResource(bg, &sd.ListTagsForResourceInput{ResourceARN: svc.Arn})
	notFound("ListTagsForResource(A's ARN)", err, "ResourceNotFoundException")
	_, err = b.TagResource(bg, &sd.TagResourceInput{ResourceARN: svc.Arn, Tags: []types.Tag{{Key: aws.String("x"), Value: aws.String("y")}}})
	notFound("TagResource(A's ARN)", err, "ResourceNotFoundException")
	_, err = b.DiscoverInstances(bg, &sd.DiscoverInstancesInput{NamespaceName: &nsName, ServiceName: aws.String("web")})
	notFound("DiscoverInstances(A's names)", err, "NamespaceNotFound")
	if out, err := b.ListNamespaces(bg, &sd.ListNamespacesInput{}); err != nil || len(out.Namespaces) != 0 {
		t.Errorf("team B: ListNamespaces = %d, %v; want none of A's", len(out.Namespaces), err)
	}
	if out, err := b.ListOperations(bg, &sd.ListOperationsInput{}); err != nil || len(out.Operations) != 0 {
		t.Errorf("team B: ListOperations = %d, %v; want none of A's", len(out.Operations), err)
	}
	// Names, tokens and quotas are B's own.
	nsB, _ := createHTTPNamespace(t, b, nsName)
	svcB := createService(t, b, &sd.CreateServiceInput{Name: aws.String("web"), NamespaceId: &nsB, CreatorRequestId: aws.String("same-token")})
	if *svcB.Id == *svc.Id {
		t.Errorf("the same CreatorRequestId in two accounts gave the same service")
	}
	if out, err := a.ListInstances(bg, &sd.ListInstancesInput{ServiceId: svc.Id}); err != nil || len(out.Instances) != 1 {
		t.Errorf("team A's instances after team B's attempts = %v, %v; want just i-1", out, err)
	}

	// App Mesh.
	mesh := uniq("mesh")
	if _, err := ma.CreateMesh(bg, &am.CreateMeshInput{MeshName: &mesh}); err != nil {
		t.Fatal(err)
	}
	if _, err := ma.CreateVirtualNode(bg, &am.CreateVirtualNodeInput{MeshName: &mesh, VirtualNodeName: aws.String("vn"),
		Spec: &amtypes.VirtualNodeSpec{}}); err != nil {
		t.Fatal(err)
	}
	_, err = mb.DescribeMesh(bg, &am.DescribeMeshInput{MeshName: &mesh})
	meshError(t, err, "NotFoundException")
	_, err = mb.DescribeVirtualNode(bg, &am.DescribeVirtualNodeInput{MeshName: &mesh, VirtualNodeName: aws.String("vn")})
	meshError(t, err, "NotFoundException")
	_, err = mb.DeleteVirtualNode(bg, &am.DeleteVirtualNodeInput{MeshName: &mesh, VirtualNodeName: aws.String("vn")})
	meshError(t, err, "NotFoundException")
	// Naming A as the owner is refused the same way whether the mesh
	// exists or not: B learns nothing.
	_, err1 := mb.DescribeVirtualNode(bg, &am.DescribeVirtualNodeInput{MeshName: &mesh, VirtualNodeName: aws.String("vn"), MeshOwner: aws.String(accountA)})
	_, err2 := mb.DescribeVirtualNode(bg, &am.DescribeVirtualNodeInput{MeshName: aws.String("no-such-mesh"), VirtualNodeName: aws.String("vn"), MeshOwner: aws.String(accountA)})
	e1, e2 := meshError(t, err1, "ForbiddenException"), meshError(t, err2, "ForbiddenException")
	if strings.Contains(e1.ErrorMessage(), "vn") != strings.Contains(e2.ErrorMessage(), "vn") {
		t.Errorf("ForbiddenException differs for an existing and a missing mesh: %q / %q", e1.ErrorMessage(), e2.ErrorMessage())
	}
	if out, err := mb.ListMeshes(bg, &am.ListMeshesInput{}); err != nil || len(out.Meshes) != 0 {
		t.Errorf("team B: ListMeshes = %v, %v; want none of A's", out, err)
	}
	if _, err := mb.CreateMesh(bg, &am.CreateMeshInput{MeshName: &mesh}); err != nil {
		t.Errorf("team B: CreateMesh with A's mesh name = %v; want its own mesh", err)
	}
}

// TestThrottling: each account's requests are limited per operation with
// token buckets; over them, Cloud Map answers RequestLimitExceeded for
// discovery and ThrottlingException for the rest (400), App Mesh
// TooManyRequestsException (429), and the SDKs' standard retries ride it
// out. Another account has buckets of its own.
func TestThrottling(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{Throttle: "aws", ThrottleRates: "servicediscovery:DiscoverInstances=5:5,servicediscovery:*=5:5,appmesh:*=5:5"})
	c := h.account()
	mc, _ := h.meshAccount()
	nsName := uniq("throttle")
	nsID, _ := createHTTPNamespace(t, c, nsName)
	createService(t, c, &sd.CreateServiceInput{Name: aws.String("web"), NamespaceId: &nsID})
	burst := func(f func() error) (ok int, last error) {
		for range 12 {
			if err := f(); err != nil {
				last = err
			} else {
				ok++
			}
		}
		return ok, last
	}
	ok, err := burst(func() error {
		_, err := c.DiscoverInstances(bg, &sd.DiscoverInstancesInput{NamespaceName: &nsName, ServiceName: aws.String("web")})
		return err
	})
	if ok < 5 || ok > 7 {
		t.Errorf("12 DiscoverInstances at once: %d answered; want about the burst of 5", ok)
	}
	authError(t, "DiscoverInstances over its rate", err, "RequestLimitExceeded", 400, "quota for the number of requests")
	_, err = burst(func() error { _, err := c.ListServices(bg, &sd.ListServicesInput{}); return err })
	authError(t, "ListServices over its rate", err, "ThrottlingException", 400, "Rate exceeded")
	_, err = burst(func() error { _, err := mc.ListMeshes(bg, &am.ListMeshesInput{}); return err })
	authError(t, "ListMeshes over its rate", err, "TooManyRequestsException", 429, "Rate exceeded")
	// Another account is not slowed by the first one.
	if ok, _ := burst(func() error { _, err := h.account().ListServices(bg, &sd.ListServicesInput{}); return err }); ok < 5 {
		t.Errorf("another account: %d of 12 answered; want its own burst of 5", ok)
	}
	// The SDK's standard retryer backs off and gets through.
	retrying := sd.New(sd.Options{Region: defaultRegion, BaseEndpoint: aws.String(h.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(newAccount(), "x", ""),
		HTTPClient:  &http.Client{Transport: h.transport(), Timeout: 30 * time.Second}})
	for i := range 15 {
		if _, err := retrying.ListServices(bg, &sd.ListServicesInput{}); err != nil {
			t.Fatalf("call %d with the SDK's standard retries = %v; want it to ride out the throttling", i, err)
		}
	}
}
