package conformance

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"

	"github.com/mapmesh/mapmesh/internal/server"
)

// TestAccounts: a 12-digit access key acts as that account; other access
// keys act as the default account; resources of one account are invisible
// to another.
func TestAccounts(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	a, b := newAccount(), newAccount()
	ca, cb := h.client(a, defaultRegion), h.client(b, defaultRegion)

	nsID, opID := createHTTPNamespace(t, ca, "shared-name")
	ns := getNamespace(t, ca, nsID)
	if got := aws.ToString(ns.ResourceOwner); got != a {
		t.Errorf("ResourceOwner = %q; want the access key's account %s", got, a)
	}
	if got, want := aws.ToString(ns.Arn), nsARN(defaultRegion, a, nsID); got != want {
		t.Errorf("Arn = %q; want %q", got, want)
	}
	s := httpService(t, ca, nsID, func(in *sd.CreateServiceInput) { in.Name = aws.String("web") })
	if got := aws.ToString(s.CreatedByAccount); got != a {
		t.Errorf("CreatedByAccount = %q; want %q", got, a)
	}
	register(t, ca, *s.Id, "i-1", nil)

	// Account b sees none of it, and may use the same names.
	_, err := cb.GetNamespace(bg, &sd.GetNamespaceInput{Id: aws.String(nsID)})
	apiError(t, err, "NamespaceNotFound")
	_, err = cb.GetNamespace(bg, &sd.GetNamespaceInput{Id: ns.Arn})
	apiError(t, err, "NamespaceNotFound")
	_, err = cb.GetService(bg, &sd.GetServiceInput{Id: s.Id})
	apiError(t, err, "ServiceNotFound")
	_, err = cb.GetInstance(bg, &sd.GetInstanceInput{ServiceId: s.Id, InstanceId: aws.String("i-1")})
	apiError(t, err, "ServiceNotFound")
	_, err = cb.GetOperation(bg, &sd.GetOperationInput{OperationId: aws.String(opID)})
	apiError(t, err, "OperationNotFound")
	_, err = cb.DiscoverInstances(bg, &sd.DiscoverInstancesInput{NamespaceName: aws.String("shared-name"), ServiceName: aws.String("web")})
	apiError(t, err, "NamespaceNotFound")
	if n := countNamespaces(t, cb); n != 0 {
		t.Errorf("account %s lists %d namespaces; want 0", b, n)
	}
	if ops := listOperations(t, cb, nil); len(ops) != 0 {
		t.Errorf("account %s lists %d operations; want 0", b, len(ops))
	}
	createHTTPNamespace(t, cb, "shared-name")

	// A non-numeric access key acts as the default account.
	t.Run("default account", func(t *testing.T) {
		c := h.client("AKIAIOSFODNN7EXAMPLE", defaultRegion)
		id, _ := createHTTPNamespace(t, c, uniq("dflt"))
		if got := aws.ToString(getNamespace(t, c, id).ResourceOwner); got != defaultAccount {
			t.Errorf("ResourceOwner = %q; want %s", got, defaultAccount)
		}
		if _, err := ca.GetNamespace(bg, &sd.GetNamespaceInput{Id: aws.String(id)}); err == nil {
			t.Errorf("account %s sees the default account's namespace", a)
		}
	})
}

// TestRegions: each region is a partition of its own.
func TestRegions(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	account := newAccount()
	east, west := h.client(account, "us-east-1"), h.client(account, "us-west-2")
	eastID, _ := createHTTPNamespace(t, east, "regional")
	westID, _ := createHTTPNamespace(t, west, "regional") // same name, no conflict
	if got, want := aws.ToString(getNamespace(t, west, westID).Arn), nsARN("us-west-2", account, westID); got != want {
		t.Errorf("Arn in us-west-2 = %q; want %q", got, want)
	}
	_, err := west.GetNamespace(bg, &sd.GetNamespaceInput{Id: aws.String(eastID)})
	apiError(t, err, "NamespaceNotFound")
	_, err = west.GetNamespace(bg, &sd.GetNamespaceInput{Id: aws.String(nsARN("us-east-1", account, eastID))})
	apiError(t, err, "NamespaceNotFound")
	s := httpService(t, east, eastID, func(in *sd.CreateServiceInput) { in.Name = aws.String("web") })
	register(t, east, *s.Id, "i-east", nil)
	_, err = west.DiscoverInstances(bg, &sd.DiscoverInstancesInput{NamespaceName: aws.String("regional"), ServiceName: aws.String("web")})
	apiError(t, err, "ServiceNotFound") // the west namespace has no service web
	if n := countNamespaces(t, west); n != 1 {
		t.Errorf("us-west-2 lists %d namespaces; want 1", n)
	}

	// ARNs carry the region's partition.
	for _, tc := range []struct{ region, partition string }{{"cn-north-1", "aws-cn"}, {"us-gov-west-1", "aws-us-gov"}, {"eu-central-1", "aws"}} {
		c := h.client(account, tc.region)
		id, _ := createHTTPNamespace(t, c, "partitioned")
		want := "arn:" + tc.partition + ":servicediscovery:" + tc.region + ":" + account + ":namespace/" + id
		if got := aws.ToString(getNamespace(t, c, id).Arn); got != want {
			t.Errorf("namespace ARN in %s = %q; want %q", tc.region, got, want)
		}
	}
}

// TestDataHostPrefix: the SDK sends DiscoverInstances and
// DiscoverInstancesRevision to "data-" + host (hostPrefix in the model), and
// the server answers a data- Host exactly as the plain one.
func TestDataHostPrefix(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	nsID, nsName := newNamespace(t, h.c, httpNS)
	s := httpService(t, h.c, nsID)
	register(t, h.c, *s.Id, "only", map[string]string{"k": "v"})

	// Through the SDK, for both spellings of the endpoint host.
	port := h.srv.Addr[strings.LastIndexByte(h.srv.Addr, ':')+1:]
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port} {
		t.Run(host, func(t *testing.T) {
			hosts := &hostLog{m: map[string]string{}}
			c := h.clientAt("http://"+host, "AKIDEXAMPLE", defaultRegion, hosts)
			ids, _ := discover(t, c, &sd.DiscoverInstancesInput{NamespaceName: aws.String(nsName), ServiceName: s.Name})
			if d := diff([]string{"only"}, ids); d != "" {
				t.Errorf("DiscoverInstances (-want +got):\n%s", d)
			}
			revision(t, c, nsName, *s.Name)
			for _, op := range []string{"DiscoverInstances", "DiscoverInstancesRevision"} {
				if got := hosts.get(op); got != "data-"+host {
					t.Errorf("%s was sent to host %q; want %q", op, got, "data-"+host)
				}
			}
		})
	}

	// Raw: the same request with Host data-... and with the plain Host.
	body := fmt.Sprintf(`{"NamespaceName":%q,"ServiceName":%q}`, nsName, *s.Name)
	for _, op := range []string{"DiscoverInstances", "DiscoverInstancesRevision", "ListNamespaces"} {
		plain := h.do(t, rawRequest{target: op, body: body, host: h.srv.Addr})
		data := h.do(t, rawRequest{target: op, body: body, host: "data-" + h.srv.Addr})
		dataLocal := h.do(t, rawRequest{target: op, body: body, host: "data-localhost:" + port})
		if op == "ListNamespaces" {
			plain = h.do(t, rawRequest{target: op, body: "{}", host: h.srv.Addr})
			data = h.do(t, rawRequest{target: op, body: "{}", host: "data-" + h.srv.Addr})
			dataLocal = h.do(t, rawRequest{target: op, body: "{}", host: "data-localhost:" + port})
		}
		if plain.status != 200 {
			t.Fatalf("%s with Host %s = %d %s", op, h.srv.Addr, plain.status, plain.body)
		}
		for _, r := range []rawResponse{data, dataLocal} {
			if r.status != plain.status || string(r.body) != string(plain.body) {
				t.Errorf("%s with a data- Host = %d %s; want as with the plain Host: %d %s", op, r.status, r.body, plain.status, plain.body)
			}
			if r.header.Get("Content-Type") != plain.header.Get("Content-Type") {
				t.Errorf("%s with a data- Host: Content-Type %q; want %q", op, r.header.Get("Content-Type"), plain.header.Get("Content-Type"))
			}
		}
	}
}
