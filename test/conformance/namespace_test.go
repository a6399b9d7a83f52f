package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mapmesh/mapmesh/internal/server"
)

// nsARN is the ARN AWS gives a namespace.
func nsARN(region, account, id string) string {
	return "arn:aws:servicediscovery:" + region + ":" + account + ":namespace/" + id
}

// svcARN is the ARN AWS gives a service.
func svcARN(region, account, id string) string {
	return "arn:aws:servicediscovery:" + region + ":" + account + ":service/" + id
}

// TestCreateNamespace creates one namespace of each type and checks the
// operation and the namespace as GetNamespace and ListNamespaces show them.
func TestCreateNamespace(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	tests := []struct {
		name     string
		typ      types.NamespaceType
		wantTTL  int64 // SOA TTL of DNS namespaces
		dnsNames bool
		create   func(c *sd.Client, name, token string) (string, error)
	}{
		{name: "HTTP", typ: types.NamespaceTypeHttp, create: func(c *sd.Client, name, token string) (string, error) {
			out, err := c.CreateHttpNamespace(bg, &sd.CreateHttpNamespaceInput{Name: aws.String(name), CreatorRequestId: aws.String(token),
				Description: aws.String("d " + name), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}})
			if err != nil {
				return "", err
			}
			return *out.OperationId, nil
		}},
		{name: "DNS_PRIVATE with SOA TTL", typ: types.NamespaceTypeDnsPrivate, wantTTL: 60, create: func(c *sd.Client, name, token string) (string, error) {
			out, err := c.CreatePrivateDnsNamespace(bg, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String(name), Vpc: aws.String("vpc-0a1b2c3d"),
				CreatorRequestId: aws.String(token), Description: aws.String("d " + name),
				Properties: &types.PrivateDnsNamespaceProperties{DnsProperties: &types.PrivateDnsPropertiesMutable{SOA: &types.SOA{TTL: aws.Int64(60)}}}})
			if err != nil {
				return "", err
			}
			return *out.OperationId, nil
		}},
		{name: "DNS_PRIVATE default SOA TTL", typ: types.NamespaceTypeDnsPrivate, wantTTL: 15, create: func(c *sd.Client, name, token string) (string, error) {
			out, err := c.CreatePrivateDnsNamespace(bg, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String(name), Vpc: aws.String("vpc-0a1b2c3d"),
				CreatorRequestId: aws.String(token), Description: aws.String("d " + name)})
			if err != nil {
				return "", err
			}
			return *out.OperationId, nil
		}},
		{name: "DNS_PUBLIC with SOA TTL", typ: types.NamespaceTypeDnsPublic, dnsNames: true, wantTTL: 120, create: func(c *sd.Client, name, token string) (string, error) {
			out, err := c.CreatePublicDnsNamespace(bg, &sd.CreatePublicDnsNamespaceInput{Name: aws.String(name),
				CreatorRequestId: aws.String(token), Description: aws.String("d " + name),
				Properties: &types.PublicDnsNamespaceProperties{DnsProperties: &types.PublicDnsPropertiesMutable{SOA: &types.SOA{TTL: aws.Int64(120)}}}})
			if err != nil {
				return "", err
			}
			return *out.OperationId, nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			account := newAccount()
			c := h.client(account, defaultRegion)
			name := uniq("ns")
			if tc.dnsNames {
				name = uniqDNS("ns")
			}
			token := "token-" + name
			before := time.Now()
			opID, err := tc.create(c, name, token)
			after := time.Now()
			if err != nil {
				t.Fatalf("create %s namespace %q = %v", tc.typ, name, err)
			}
			if !operationIDRE.MatchString(opID) {
				t.Errorf("OperationId = %q; want 32 base32 characters, a dash and a base-36 time", opID)
			}

			// The operation is visible at once and complete.
			op := successfulOperation(t, c, opID)
			nsID := op.Targets["NAMESPACE"]
			if !namespaceIDRE.MatchString(nsID) {
				t.Fatalf("namespace ID = %q; want ns- and 16 lowercase base32 characters", nsID)
			}
			if got, want := aws.ToString(op.Id), opID; got != want {
				t.Errorf("Operation.Id = %q; want %q", got, want)
			}
			if got := aws.ToString(op.OwnerAccount); got != account {
				t.Errorf("Operation.OwnerAccount = %q; want %q", got, account)
			}
			if op.Type != types.OperationTypeCreateNamespace {
				t.Errorf("Operation.Type = %s; want CREATE_NAMESPACE", op.Type)
			}
			if d := diff(map[string]string{"NAMESPACE": nsID}, op.Targets); d != "" {
				t.Errorf("Operation.Targets (-want +got):\n%s", d)
			}
			if op.ErrorCode != nil || op.ErrorMessage != nil {
				t.Errorf("Operation ErrorCode/ErrorMessage = %q/%q; want none", aws.ToString(op.ErrorCode), aws.ToString(op.ErrorMessage))
			}
			checkNear(t, "Operation.CreateDate", op.CreateDate, before, after)
			checkNear(t, "Operation.UpdateDate", op.UpdateDate, before, after)

			got, err := c.GetNamespace(bg, &sd.GetNamespaceInput{Id: aws.String(nsID)})
			if err != nil {
				t.Fatalf("GetNamespace(%s) = %v", nsID, err)
			}
			ns := got.Namespace
			checkNear(t, "Namespace.CreateDate", ns.CreateDate, before, after)
			want := &types.Namespace{
				Id:               aws.String(nsID),
				Arn:              aws.String(nsARN(defaultRegion, account, nsID)),
				ResourceOwner:    aws.String(account),
				Name:             aws.String(name),
				Type:             tc.typ,
				Description:      aws.String("d " + name),
				ServiceCount:     aws.Int32(0),
				CreateDate:       ns.CreateDate,
				CreatorRequestId: aws.String(token),
				Properties: &types.NamespaceProperties{
					HttpProperties: &types.HttpProperties{HttpName: aws.String(name)},
				},
			}
			if tc.typ == types.NamespaceTypeHttp {
				// No hosted zone; AWS shows "DnsProperties": {} (or {"SOA": {}}).
				if p := ns.Properties; p != nil && p.DnsProperties != nil {
					if p.DnsProperties.HostedZoneId != nil || (p.DnsProperties.SOA != nil && p.DnsProperties.SOA.TTL != nil) {
						t.Errorf("HTTP namespace DnsProperties = {HostedZoneId: %q, SOA: %+v}; want empty", aws.ToString(p.DnsProperties.HostedZoneId), p.DnsProperties.SOA)
					}
				}
			} else {
				var zone string
				if p := ns.Properties; p != nil && p.DnsProperties != nil {
					zone = aws.ToString(p.DnsProperties.HostedZoneId)
				}
				if !hostedZoneIDRE.MatchString(zone) {
					t.Errorf("HostedZoneId = %q; want a Route 53 zone ID (Z + uppercase letters and digits)", zone)
				}
				want.Properties.DnsProperties = &types.DnsProperties{HostedZoneId: aws.String(zone), SOA: &types.SOA{TTL: aws.Int64(tc.wantTTL)}}
			}
			opts := cmpopts.IgnoreFields(types.NamespaceProperties{}, "DnsProperties")
			if tc.typ != types.NamespaceTypeHttp {
				opts = nil
			}
			if d := diff(want, ns, opts); d != "" {
				t.Errorf("GetNamespace (-want +got):\n%s", d)
			}

			// ListNamespaces shows the same namespace, without CreatorRequestId.
			list, err := c.ListNamespaces(bg, &sd.ListNamespacesInput{})
			if err != nil {
				t.Fatalf("ListNamespaces = %v", err)
			}
			wantSummary := []types.NamespaceSummary{{Id: want.Id, Arn: want.Arn, ResourceOwner: want.ResourceOwner, Name: want.Name,
				Type: want.Type, Description: want.Description, ServiceCount: want.ServiceCount, Properties: ns.Properties, CreateDate: ns.CreateDate}}
			if d := diff(wantSummary, list.Namespaces); d != "" {
				t.Errorf("ListNamespaces (-want +got):\n%s", d)
			}
			if list.NextToken != nil {
				t.Errorf("ListNamespaces.NextToken = %q; want none", *list.NextToken)
			}

			// The ARN is accepted wherever an ID is.
			byARN, err := c.GetNamespace(bg, &sd.GetNamespaceInput{Id: want.Arn})
			if err != nil {
				t.Fatalf("GetNamespace(ARN %s) = %v", *want.Arn, err)
			}
			if d := diff(ns, byARN.Namespace); d != "" {
				t.Errorf("GetNamespace by ARN differs from by ID (-id +arn):\n%s", d)
			}
		})
	}
}

// TestNamespaceNameUniqueness covers which names may repeat: HTTP names are
// unique per account and region; private DNS names may repeat across VPCs
// (the newcomer gets a hashed HttpName) but not within one VPC, where the
// operation FAILs as Route 53 refuses the hosted zone.
func TestNamespaceNameUniqueness(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})

	t.Run("HTTP name taken", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		name := uniq("taken")
		first, _ := createHTTPNamespace(t, c, name, func(in *sd.CreateHttpNamespaceInput) { in.CreatorRequestId = aws.String("first-token") })
		_, err := c.CreateHttpNamespace(bg, &sd.CreateHttpNamespaceInput{Name: aws.String(name), CreatorRequestId: aws.String("second-token")})
		e := asError[*types.NamespaceAlreadyExists](t, err)
		if got := aws.ToString(e.NamespaceId); got != first {
			t.Errorf("NamespaceAlreadyExists.NamespaceId = %q; want %q", got, first)
		}
		if got := aws.ToString(e.CreatorRequestId); got != "first-token" {
			t.Errorf("NamespaceAlreadyExists.CreatorRequestId = %q; want first-token", got)
		}
		if n := countNamespaces(t, c); n != 1 {
			t.Errorf("namespaces after the refused create = %d; want 1", n)
		}
	})

	t.Run("private DNS name taken in the same VPC", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		name := uniq("samevpc")
		createPrivateNamespace(t, c, name, "vpc-1111")
		before := time.Now()
		out, err := c.CreatePrivateDnsNamespace(bg, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String(name), Vpc: aws.String("vpc-1111")})
		if err != nil {
			t.Fatalf("second CreatePrivateDnsNamespace(%q) in the same VPC = %v; want the call accepted and its operation FAIL", name, err)
		}
		op, err := c.GetOperation(bg, &sd.GetOperationInput{OperationId: out.OperationId})
		if err != nil {
			t.Fatalf("GetOperation = %v", err)
		}
		o := op.Operation
		if o.Status != types.OperationStatusFail || aws.ToString(o.ErrorCode) != "CANNOT_CREATE_HOSTED_ZONE" {
			t.Errorf("Operation Status/ErrorCode = %s/%q; want FAIL/CANNOT_CREATE_HOSTED_ZONE", o.Status, aws.ToString(o.ErrorCode))
		}
		if aws.ToString(o.ErrorMessage) == "" {
			t.Error("failed Operation has no ErrorMessage")
		}
		if o.Type != types.OperationTypeCreateNamespace {
			t.Errorf("Operation.Type = %s; want CREATE_NAMESPACE", o.Type)
		}
		checkNear(t, "failed Operation.UpdateDate", o.UpdateDate, before, time.Now())
		if n := countNamespaces(t, c); n != 1 {
			t.Errorf("namespaces after the failed create = %d; want 1", n)
		}
	})

	t.Run("private DNS name taken in the same VPC, other case", func(t *testing.T) {
		t.Parallel()
		// Route 53 compares domain names without regard to case, and a
		// final dot names the same zone.
		c := h.account()
		name := uniq("case") + ".internal"
		createPrivateNamespace(t, c, name, "vpc-2222")
		out, err := c.CreatePrivateDnsNamespace(bg, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String(strings.ToUpper(name) + "."), Vpc: aws.String("vpc-2222")})
		if err != nil {
			t.Fatalf("CreatePrivateDnsNamespace(%q) = %v", strings.ToUpper(name)+".", err)
		}
		op, err := c.GetOperation(bg, &sd.GetOperationInput{OperationId: out.OperationId})
		if err != nil {
			t.Fatal(err)
		}
		if o := op.Operation; o.Status != types.OperationStatusFail || aws.ToString(o.ErrorCode) != "CANNOT_CREATE_HOSTED_ZONE" {
			t.Errorf("Operation Status/ErrorCode = %s/%q; want FAIL/CANNOT_CREATE_HOSTED_ZONE", o.Status, aws.ToString(o.ErrorCode))
		}
	})

	t.Run("private DNS name taken in another VPC", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		name := uniq("othervpc")
		firstID, _ := createPrivateNamespace(t, c, name, "vpc-aaaa")
		secondID, _ := createPrivateNamespace(t, c, name, "vpc-bbbb")
		first, second := getNamespace(t, c, firstID), getNamespace(t, c, secondID)
		if got := httpName(first); got != name {
			t.Errorf("first namespace HttpName = %q; want %q", got, name)
		}
		if got := aws.ToString(second.Name); got != name {
			t.Errorf("second namespace Name = %q; want %q", got, name)
		}
		if got := httpName(second); got == name || !strings.HasPrefix(got, name) {
			t.Errorf("second namespace HttpName = %q; want %q with a generated hash added", got, name)
		}

		// Discovery by the shared name reaches the first namespace only
		// (aws/copilot-cli#1929); the second is reached by its HttpName.
		svc1 := httpService(t, c, firstID, func(in *sd.CreateServiceInput) { in.Name = aws.String("web") })
		svc2 := httpService(t, c, secondID, func(in *sd.CreateServiceInput) { in.Name = aws.String("web") })
		register(t, c, *svc1.Id, "in-first", map[string]string{"where": "first"})
		register(t, c, *svc2.Id, "in-second", map[string]string{"where": "second"})
		for _, tc := range []struct{ ns, want string }{{name, "in-first"}, {httpName(second), "in-second"}} {
			out, err := c.DiscoverInstances(bg, &sd.DiscoverInstancesInput{NamespaceName: aws.String(tc.ns), ServiceName: aws.String("web")})
			if err != nil {
				t.Fatalf("DiscoverInstances(%q, web) = %v", tc.ns, err)
			}
			if len(out.Instances) != 1 || aws.ToString(out.Instances[0].InstanceId) != tc.want {
				t.Errorf("DiscoverInstances(%q, web) = %v; want only %s", tc.ns, instanceIDs(out.Instances), tc.want)
			}
		}
	})

	t.Run("private DNS name of an HTTP namespace", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		name := uniq("sharedname")
		createHTTPNamespace(t, c, name)
		id, _ := createPrivateNamespace(t, c, name, "vpc-cccc")
		if got := httpName(getNamespace(t, c, id)); got == name || !strings.HasPrefix(got, name) {
			t.Errorf("private namespace HttpName = %q; want %q with a generated hash added", got, name)
		}
	})

	t.Run("public DNS name taken", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		name := uniqDNS("pub")
		first, _ := createPublicNamespace(t, c, name, func(in *sd.CreatePublicDnsNamespaceInput) { in.CreatorRequestId = aws.String("pub-first") })
		_, err := c.CreatePublicDnsNamespace(bg, &sd.CreatePublicDnsNamespaceInput{Name: aws.String(name), CreatorRequestId: aws.String("pub-second")})
		e := asError[*types.NamespaceAlreadyExists](t, err)
		if aws.ToString(e.NamespaceId) != first || aws.ToString(e.CreatorRequestId) != "pub-first" {
			t.Errorf("NamespaceAlreadyExists{NamespaceId: %q, CreatorRequestId: %q}; want {%q, pub-first}", aws.ToString(e.NamespaceId), aws.ToString(e.CreatorRequestId), first)
		}
	})

	t.Run("private DNS name free again in its VPC after delete", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		name := uniq("again")
		first, _ := createPrivateNamespace(t, c, name, "vpc-again")
		out, err := c.DeleteNamespace(bg, &sd.DeleteNamespaceInput{Id: aws.String(first)})
		if err != nil {
			t.Fatalf("DeleteNamespace = %v", err)
		}
		successfulOperation(t, c, *out.OperationId)
		second, _ := createPrivateNamespace(t, c, name, "vpc-again") // SUCCESS, not CANNOT_CREATE_HOSTED_ZONE
		if got := httpName(getNamespace(t, c, second)); got != name {
			t.Errorf("HttpName of the re-created namespace = %q; want %q", got, name)
		}
	})

	t.Run("name free again after delete", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		name := uniq("reuse")
		first, _ := createHTTPNamespace(t, c, name)
		if _, err := c.DeleteNamespace(bg, &sd.DeleteNamespaceInput{Id: aws.String(first)}); err != nil {
			t.Fatalf("DeleteNamespace = %v", err)
		}
		second, _ := createHTTPNamespace(t, c, name)
		if second == first {
			t.Errorf("re-created namespace has the deleted one's ID %s; namespace IDs are not reused", first)
		}
	})
}

// TestNamespaceIdempotency: the same CreatorRequestId with the same request
// returns the first OperationId and creates nothing more; with a different
// request it is DuplicateRequest naming the first operation.
func TestNamespaceIdempotency(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	tests := []struct {
		name   string
		create func(c *sd.Client, name, token, desc string) (*string, error)
		dns    bool
	}{
		{"HTTP", func(c *sd.Client, name, token, desc string) (*string, error) {
			out, err := c.CreateHttpNamespace(bg, &sd.CreateHttpNamespaceInput{Name: aws.String(name), CreatorRequestId: aws.String(token), Description: aws.String(desc)})
			if err != nil {
				return nil, err
			}
			return out.OperationId, nil
		}, false},
		{"DNS_PRIVATE", func(c *sd.Client, name, token, desc string) (*string, error) {
			out, err := c.CreatePrivateDnsNamespace(bg, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String(name), Vpc: aws.String("vpc-1"), CreatorRequestId: aws.String(token), Description: aws.String(desc)})
			if err != nil {
				return nil, err
			}
			return out.OperationId, nil
		}, false},
		{"DNS_PUBLIC", func(c *sd.Client, name, token, desc string) (*string, error) {
			out, err := c.CreatePublicDnsNamespace(bg, &sd.CreatePublicDnsNamespaceInput{Name: aws.String(name), CreatorRequestId: aws.String(token), Description: aws.String(desc)})
			if err != nil {
				return nil, err
			}
			return out.OperationId, nil
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := h.account()
			name := uniq("idem")
			if tc.dns {
				name = uniqDNS("idem")
			}
			token := "tok-" + name
			first, err := tc.create(c, name, token, "one")
			if err != nil {
				t.Fatalf("first create = %v", err)
			}
			again, err := tc.create(c, name, token, "one")
			if err != nil {
				t.Fatalf("retry with the same CreatorRequestId = %v; want the first operation", err)
			}
			if *again != *first {
				t.Errorf("retry OperationId = %s; want the first call's %s", *again, *first)
			}
			if n := countNamespaces(t, c); n != 1 {
				t.Errorf("namespaces after the retry = %d; want 1", n)
			}
			_, err = tc.create(c, name, token, "a different request")
			e := asError[*types.DuplicateRequest](t, err)
			if got := aws.ToString(e.DuplicateOperationId); got != *first {
				t.Errorf("DuplicateRequest.DuplicateOperationId = %q; want %q", got, *first)
			}
		})
	}
}

// TestUpdateNamespace updates each type of namespace and checks the
// UPDATE_NAMESPACE operation, the change, and UpdaterRequestId idempotency.
func TestUpdateNamespace(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	type update func(c *sd.Client, id, token, desc string, ttl *int64) (*string, error)
	tests := []struct {
		name   string
		create func(t *testing.T, c *sd.Client) string
		update update
		dns    bool
	}{
		{"HTTP", func(t *testing.T, c *sd.Client) string { id, _ := createHTTPNamespace(t, c, uniq("up")); return id },
			func(c *sd.Client, id, token, desc string, _ *int64) (*string, error) {
				out, err := c.UpdateHttpNamespace(bg, &sd.UpdateHttpNamespaceInput{Id: aws.String(id), UpdaterRequestId: aws.String(token),
					Namespace: &types.HttpNamespaceChange{Description: aws.String(desc)}})
				if err != nil {
					return nil, err
				}
				return out.OperationId, nil
			}, false},
		{"DNS_PRIVATE", func(t *testing.T, c *sd.Client) string {
			id, _ := createPrivateNamespace(t, c, uniq("up"), "vpc-up")
			return id
		},
			func(c *sd.Client, id, token, desc string, ttl *int64) (*string, error) {
				ch := &types.PrivateDnsNamespaceChange{Description: aws.String(desc)}
				if ttl != nil {
					ch.Properties = &types.PrivateDnsNamespacePropertiesChange{DnsProperties: &types.PrivateDnsPropertiesMutableChange{SOA: &types.SOAChange{TTL: ttl}}}
				}
				out, err := c.UpdatePrivateDnsNamespace(bg, &sd.UpdatePrivateDnsNamespaceInput{Id: aws.String(id), UpdaterRequestId: aws.String(token), Namespace: ch})
				if err != nil {
					return nil, err
				}
				return out.OperationId, nil
			}, true},
		{"DNS_PUBLIC", func(t *testing.T, c *sd.Client) string {
			id, _ := createPublicNamespace(t, c, uniqDNS("up"))
			return id
		},
			func(c *sd.Client, id, token, desc string, ttl *int64) (*string, error) {
				ch := &types.PublicDnsNamespaceChange{Description: aws.String(desc)}
				if ttl != nil {
					ch.Properties = &types.PublicDnsNamespacePropertiesChange{DnsProperties: &types.PublicDnsPropertiesMutableChange{SOA: &types.SOAChange{TTL: ttl}}}
				}
				out, err := c.UpdatePublicDnsNamespace(bg, &sd.UpdatePublicDnsNamespaceInput{Id: aws.String(id), UpdaterRequestId: aws.String(token), Namespace: ch})
				if err != nil {
					return nil, err
				}
				return out.OperationId, nil
			}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := h.account()
			id := tc.create(t, c)
			old := getNamespace(t, c, id)
			var ttl *int64
			if tc.dns {
				ttl = aws.Int64(300)
			}
			before := time.Now()
			opID, err := tc.update(c, id, "upd-1", "new description", ttl)
			if err != nil {
				t.Fatalf("update = %v", err)
			}
			op := successfulOperation(t, c, *opID)
			if op.Type != types.OperationTypeUpdateNamespace {
				t.Errorf("Operation.Type = %s; want UPDATE_NAMESPACE", op.Type)
			}
			if d := diff(map[string]string{"NAMESPACE": id}, op.Targets); d != "" {
				t.Errorf("Operation.Targets (-want +got):\n%s", d)
			}
			checkNear(t, "Operation.UpdateDate", op.UpdateDate, before, time.Now())

			ns := getNamespace(t, c, id)
			if got := aws.ToString(ns.Description); got != "new description" {
				t.Errorf("Description after update = %q; want %q", got, "new description")
			}
			if tc.dns {
				if got := soaTTL(ns); got != 300 {
					t.Errorf("SOA TTL after update = %d; want 300", got)
				}
				if a, b := aws.ToString(old.Properties.DnsProperties.HostedZoneId), aws.ToString(ns.Properties.DnsProperties.HostedZoneId); a != b {
					t.Errorf("HostedZoneId changed from %s to %s by an update", a, b)
				}
				// A change without Properties keeps the SOA TTL.
				op2, err := tc.update(c, id, "upd-2", "only the description", nil)
				if err != nil {
					t.Fatalf("update without Properties = %v", err)
				}
				successfulOperation(t, c, *op2)
				if got := soaTTL(getNamespace(t, c, id)); got != 300 {
					t.Errorf("SOA TTL after an update without Properties = %d; want 300 kept", got)
				}
			}
			if d := diff(old.CreateDate, ns.CreateDate); d != "" {
				t.Errorf("CreateDate changed by an update (-old +new):\n%s", d)
			}

			// UpdaterRequestId is an idempotency token.
			again, err := tc.update(c, id, "upd-1", "new description", ttl)
			if err != nil {
				t.Fatalf("retry with the same UpdaterRequestId = %v", err)
			}
			if *again != *opID {
				t.Errorf("retry OperationId = %s; want %s", *again, *opID)
			}
			_, err = tc.update(c, id, "upd-1", "another description", ttl)
			e := asError[*types.DuplicateRequest](t, err)
			if got := aws.ToString(e.DuplicateOperationId); got != *opID {
				t.Errorf("DuplicateRequest.DuplicateOperationId = %q; want %q", got, *opID)
			}
		})
	}
}

// TestDeleteNamespace deletes namespaces by ID and by ARN, and refuses a
// namespace that still has services (no cascading delete).
func TestDeleteNamespace(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	for _, byARN := range []bool{false, true} {
		name := "by ID"
		if byARN {
			name = "by ARN"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := h.account()
			id, createOp := createHTTPNamespace(t, c, uniq("del"))
			ref := id
			if byARN {
				ref = aws.ToString(getNamespace(t, c, id).Arn)
			}
			before := time.Now()
			out, err := c.DeleteNamespace(bg, &sd.DeleteNamespaceInput{Id: aws.String(ref)})
			if err != nil {
				t.Fatalf("DeleteNamespace(%s) = %v", ref, err)
			}
			op := successfulOperation(t, c, *out.OperationId)
			if op.Type != types.OperationTypeDeleteNamespace {
				t.Errorf("Operation.Type = %s; want DELETE_NAMESPACE", op.Type)
			}
			if d := diff(map[string]string{"NAMESPACE": id}, op.Targets); d != "" {
				t.Errorf("Operation.Targets (-want +got):\n%s", d)
			}
			checkNear(t, "Operation.CreateDate", op.CreateDate, before, time.Now())
			_, err = c.GetNamespace(bg, &sd.GetNamespaceInput{Id: aws.String(id)})
			apiError(t, err, "NamespaceNotFound")
			// Operations outlive their namespace.
			successfulOperation(t, c, createOp)
			_, err = c.DeleteNamespace(bg, &sd.DeleteNamespaceInput{Id: aws.String(id)})
			apiError(t, err, "NamespaceNotFound")
		})
	}
	t.Run("with services", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		id, _ := createPrivateNamespace(t, c, uniq("busy"), "vpc-busy")
		svc := dnsService(t, c, id, "", types.RecordTypeA)
		_, err := c.DeleteNamespace(bg, &sd.DeleteNamespaceInput{Id: aws.String(id)})
		e := apiError(t, err, "ResourceInUse")
		if got, want := e.ErrorMessage(), "Namespace has associated services; delete the services before deleting the namespace"; got != want {
			t.Errorf("ResourceInUse message = %q; want %q (anomalyco/sst#5931)", got, want)
		}
		getNamespace(t, c, id) // still there
		if _, err := c.DeleteService(bg, &sd.DeleteServiceInput{Id: svc.Id}); err != nil {
			t.Fatalf("DeleteService = %v", err)
		}
		out, err := c.DeleteNamespace(bg, &sd.DeleteNamespaceInput{Id: aws.String(id)})
		if err != nil {
			t.Fatalf("DeleteNamespace after its service is gone = %v", err)
		}
		successfulOperation(t, c, *out.OperationId)
	})
}

func getNamespace(t testing.TB, c *sd.Client, id string) *types.Namespace {
	t.Helper()
	out, err := c.GetNamespace(bg, &sd.GetNamespaceInput{Id: aws.String(id)})
	if err != nil {
		t.Fatalf("GetNamespace(%s) = %v", id, err)
	}
	return out.Namespace
}

func httpName(ns *types.Namespace) string {
	if ns.Properties == nil || ns.Properties.HttpProperties == nil {
		return ""
	}
	return aws.ToString(ns.Properties.HttpProperties.HttpName)
}

func soaTTL(ns *types.Namespace) int64 {
	if ns.Properties == nil || ns.Properties.DnsProperties == nil || ns.Properties.DnsProperties.SOA == nil {
		return -1
	}
	return aws.ToInt64(ns.Properties.DnsProperties.SOA.TTL)
}

// countNamespaces lists every namespace the client's account has.
func countNamespaces(t testing.TB, c *sd.Client) int {
	t.Helper()
	n := 0
	p := sd.NewListNamespacesPaginator(c, &sd.ListNamespacesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatalf("ListNamespaces = %v", err)
		}
		n += len(page.Namespaces)
	}
	return n
}

func instanceIDs(in []types.HttpInstanceSummary) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = aws.ToString(s.InstanceId)
	}
	return out
}
