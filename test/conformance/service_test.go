package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mapmesh/mapmesh/internal/server"
)

// nsKind names a namespace type for table tests.
type nsKind int

const (
	httpNS nsKind = iota
	privateNS
	publicNS
)

func (k nsKind) String() string { return [...]string{"HTTP", "DNS_PRIVATE", "DNS_PUBLIC"}[k] }

// newNamespace creates a namespace of kind k and returns its ID and name.
func newNamespace(t testing.TB, c *sd.Client, k nsKind) (id, name string) {
	t.Helper()
	switch k {
	case privateNS:
		name = uniq("priv")
		id, _ = createPrivateNamespace(t, c, name, "vpc-test")
	case publicNS:
		name = uniqDNS("pub")
		id, _ = createPublicNamespace(t, c, name)
	default:
		name = uniq("http")
		id, _ = createHTTPNamespace(t, c, name)
	}
	return id, name
}

// TestCreateService creates services of every shape and checks the output
// against GetService, ListServices and the namespace's ServiceCount.
func TestCreateService(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	tests := []struct {
		name string
		ns   nsKind
		// in fills the request; nsRef is what to send as the namespace.
		in       func(in *sd.CreateServiceInput, nsID, nsARN string)
		wantType types.ServiceType
		// wantDNS is the DnsConfig GetService shows, without NamespaceId
		// (filled in by the test); nil for {}.
		wantDNS    *types.DnsConfig
		wantHC     *types.HealthCheckConfig
		wantCustom bool
	}{
		{
			name: "HTTP namespace with custom health", ns: httpNS,
			in: func(in *sd.CreateServiceInput, nsID, _ string) {
				in.NamespaceId = aws.String(nsID)
				// The deprecated FailureThreshold is accepted and shown as 1.
				in.HealthCheckCustomConfig = &types.HealthCheckCustomConfig{FailureThreshold: aws.Int32(5)}
			},
			wantType: types.ServiceTypeHttp, wantCustom: true,
		},
		{
			name: "HTTP namespace by ARN", ns: httpNS,
			in:       func(in *sd.CreateServiceInput, _, arn string) { in.NamespaceId = aws.String(arn) },
			wantType: types.ServiceTypeHttp,
		},
		{
			name: "private DNS A record, default routing", ns: privateNS,
			in: func(in *sd.CreateServiceInput, nsID, _ string) {
				in.NamespaceId = aws.String(nsID)
				in.DnsConfig = &types.DnsConfig{DnsRecords: records(60, types.RecordTypeA)}
			},
			wantType: types.ServiceTypeDnsHttp,
			wantDNS:  &types.DnsConfig{RoutingPolicy: types.RoutingPolicyMultivalue, DnsRecords: records(60, types.RecordTypeA)},
		},
		{
			name: "private DNS via deprecated DnsConfig.NamespaceId", ns: privateNS,
			in: func(in *sd.CreateServiceInput, nsID, _ string) {
				in.DnsConfig = &types.DnsConfig{NamespaceId: aws.String(nsID), RoutingPolicy: types.RoutingPolicyWeighted,
					DnsRecords: records(30, types.RecordTypeA, types.RecordTypeAaaa)}
				in.HealthCheckCustomConfig = &types.HealthCheckCustomConfig{}
			},
			wantType: types.ServiceTypeDnsHttp, wantCustom: true,
			wantDNS: &types.DnsConfig{RoutingPolicy: types.RoutingPolicyWeighted, DnsRecords: records(30, types.RecordTypeA, types.RecordTypeAaaa)},
		},
		{
			name: "private DNS API-only service (Type HTTP)", ns: privateNS,
			in: func(in *sd.CreateServiceInput, nsID, _ string) {
				in.NamespaceId = aws.String(nsID)
				in.Type = types.ServiceTypeOptionHttp
			},
			wantType: types.ServiceTypeHttp,
		},
		{
			name: "public DNS SRV with an HTTPS health check", ns: publicNS,
			in: func(in *sd.CreateServiceInput, nsID, _ string) {
				in.NamespaceId = aws.String(nsID)
				in.DnsConfig = &types.DnsConfig{RoutingPolicy: types.RoutingPolicyWeighted, DnsRecords: records(10, types.RecordTypeSrv)}
				in.HealthCheckConfig = &types.HealthCheckConfig{Type: types.HealthCheckTypeHttps, ResourcePath: aws.String("/health"), FailureThreshold: aws.Int32(3)}
			},
			wantType: types.ServiceTypeDnsHttp,
			wantDNS:  &types.DnsConfig{RoutingPolicy: types.RoutingPolicyWeighted, DnsRecords: records(10, types.RecordTypeSrv)},
			wantHC:   &types.HealthCheckConfig{Type: types.HealthCheckTypeHttps, ResourcePath: aws.String("/health"), FailureThreshold: aws.Int32(3)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			account := newAccount()
			c := h.client(account, defaultRegion)
			nsID, _ := newNamespace(t, c, tc.ns)
			name := uniq("svc")
			in := &sd.CreateServiceInput{Name: aws.String(name), CreatorRequestId: aws.String("tok-" + name), Description: aws.String("about " + name),
				Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}
			tc.in(in, nsID, nsARN(defaultRegion, account, nsID))
			before := time.Now()
			out, err := c.CreateService(bg, in)
			after := time.Now()
			if err != nil {
				t.Fatalf("CreateService = %v", err)
			}
			s := out.Service
			id := aws.ToString(s.Id)
			if !serviceIDRE.MatchString(id) {
				t.Fatalf("Service.Id = %q; want srv- and 16 lowercase base32 characters", id)
			}
			checkNear(t, "Service.CreateDate", s.CreateDate, before, after)
			want := &types.Service{
				Id:                aws.String(id),
				Arn:               aws.String(svcARN(defaultRegion, account, id)),
				ResourceOwner:     aws.String(account),
				CreatedByAccount:  aws.String(account),
				Name:              aws.String(name),
				NamespaceId:       aws.String(nsID),
				Description:       aws.String("about " + name),
				InstanceCount:     aws.Int32(0),
				Type:              tc.wantType,
				CreateDate:        s.CreateDate,
				CreatorRequestId:  aws.String("tok-" + name),
				HealthCheckConfig: tc.wantHC,
				DnsConfig:         &types.DnsConfig{},
			}
			if tc.wantDNS != nil {
				d := *tc.wantDNS
				d.NamespaceId = aws.String(nsID) // Create/GetService echo the namespace
				want.DnsConfig = &d
			}
			if tc.wantCustom {
				want.HealthCheckCustomConfig = &types.HealthCheckCustomConfig{FailureThreshold: aws.Int32(1)}
			}
			if s.DnsConfig == nil && tc.wantDNS == nil {
				s.DnsConfig = &types.DnsConfig{} // AWS sends {}, but an absent member is as good
			}
			if d := diff(want, s); d != "" {
				t.Errorf("CreateService (-want +got):\n%s", d)
			}

			got, err := c.GetService(bg, &sd.GetServiceInput{Id: aws.String(id)})
			if err != nil {
				t.Fatalf("GetService = %v", err)
			}
			if got.Service.DnsConfig == nil && tc.wantDNS == nil {
				got.Service.DnsConfig = &types.DnsConfig{}
			}
			if d := diff(want, got.Service); d != "" {
				t.Errorf("GetService (-want +got):\n%s", d)
			}
			byARN, err := c.GetService(bg, &sd.GetServiceInput{Id: want.Arn})
			if err != nil {
				t.Fatalf("GetService(ARN) = %v", err)
			}
			if aws.ToString(byARN.Service.Id) != id {
				t.Errorf("GetService(ARN).Id = %q; want %q", aws.ToString(byARN.Service.Id), id)
			}

			// ListServices: the summary, whose DnsConfig has no NamespaceId.
			list, err := c.ListServices(bg, &sd.ListServicesInput{})
			if err != nil {
				t.Fatalf("ListServices = %v", err)
			}
			wantDNS := &types.DnsConfig{}
			if tc.wantDNS != nil {
				wantDNS = tc.wantDNS
			}
			wantSummary := []types.ServiceSummary{{Id: want.Id, Arn: want.Arn, ResourceOwner: want.ResourceOwner, CreatedByAccount: want.CreatedByAccount,
				Name: want.Name, Description: want.Description, InstanceCount: want.InstanceCount, Type: want.Type, CreateDate: want.CreateDate,
				DnsConfig: wantDNS, HealthCheckConfig: want.HealthCheckConfig, HealthCheckCustomConfig: want.HealthCheckCustomConfig}}
			for i := range list.Services {
				if list.Services[i].DnsConfig == nil && tc.wantDNS == nil {
					list.Services[i].DnsConfig = &types.DnsConfig{}
				}
			}
			if d := diff(wantSummary, list.Services); d != "" {
				t.Errorf("ListServices (-want +got):\n%s", d)
			}

			if n := aws.ToInt32(getNamespace(t, c, nsID).ServiceCount); n != 1 {
				t.Errorf("namespace ServiceCount = %d; want 1", n)
			}
		})
	}
}

// TestServiceNameUniqueness: names are unique per namespace, ignoring case
// in DNS namespaces (one DNS name) and respecting it in HTTP namespaces;
// ServiceAlreadyExists names the existing service.
func TestServiceNameUniqueness(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	tests := []struct {
		name         string
		ns           nsKind
		first, again string
		wantConflict bool
	}{
		{"same name, HTTP namespace", httpNS, "web", "web", true},
		{"same name, private DNS namespace", privateNS, "web", "web", true},
		{"other case, private DNS namespace", privateNS, "Web", "web", true},
		{"other case, public DNS namespace", publicNS, "API", "api", true},
		{"other case, HTTP namespace", httpNS, "Web", "web", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			account := newAccount()
			c := h.client(account, defaultRegion)
			nsID, _ := newNamespace(t, c, tc.ns)
			first := createService(t, c, &sd.CreateServiceInput{Name: aws.String(tc.first), NamespaceId: aws.String(nsID), CreatorRequestId: aws.String("first-" + tc.first)})
			out, err := c.CreateService(bg, &sd.CreateServiceInput{Name: aws.String(tc.again), NamespaceId: aws.String(nsID), CreatorRequestId: aws.String("second")})
			if !tc.wantConflict {
				if err != nil {
					t.Fatalf("CreateService(%q) next to %q = %v; want a second service", tc.again, tc.first, err)
				}
				if *out.Service.Id == *first.Id {
					t.Errorf("services %q and %q share ID %s", tc.first, tc.again, *first.Id)
				}
				return
			}
			e := asError[*types.ServiceAlreadyExists](t, err)
			if got := aws.ToString(e.ServiceId); got != *first.Id {
				t.Errorf("ServiceAlreadyExists.ServiceId = %q; want %q", got, *first.Id)
			}
			if got := aws.ToString(e.ServiceArn); got != *first.Arn {
				t.Errorf("ServiceAlreadyExists.ServiceArn = %q; want %q", got, *first.Arn)
			}
			if got := aws.ToString(e.CreatorRequestId); got != "first-"+tc.first {
				t.Errorf("ServiceAlreadyExists.CreatorRequestId = %q; want %q", got, "first-"+tc.first)
			}
			if got := e.ErrorMessage(); got != "Service already exists." {
				t.Errorf("ServiceAlreadyExists message = %q; want %q (localstack/localstack#9823)", got, "Service already exists.")
			}
		})
	}
	t.Run("same name in two namespaces", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		ns1, _ := newNamespace(t, c, httpNS)
		ns2, _ := newNamespace(t, c, httpNS)
		a := createService(t, c, &sd.CreateServiceInput{Name: aws.String("web"), NamespaceId: aws.String(ns1)})
		b := createService(t, c, &sd.CreateServiceInput{Name: aws.String("web"), NamespaceId: aws.String(ns2)})
		if *a.Id == *b.Id {
			t.Errorf("services named web in two namespaces share ID %s", *a.Id)
		}
	})
}

// TestCreateServiceIdempotency: a retry with the same CreatorRequestId and
// request returns the service already created.
func TestCreateServiceIdempotency(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	nsID, _ := newNamespace(t, c, privateNS)
	in := &sd.CreateServiceInput{Name: aws.String("retry"), NamespaceId: aws.String(nsID), CreatorRequestId: aws.String("the-token"),
		DnsConfig: &types.DnsConfig{DnsRecords: records(60, types.RecordTypeA)}}
	first := createService(t, c, in)
	out, err := c.CreateService(bg, in)
	if err != nil {
		t.Fatalf("CreateService retried with the same CreatorRequestId = %v; want the same service", err)
	}
	if d := diff(first, out.Service); d != "" {
		t.Errorf("retried CreateService (-first +retry):\n%s", d)
	}
	if n := aws.ToInt32(getNamespace(t, c, nsID).ServiceCount); n != 1 {
		t.Errorf("ServiceCount after the retry = %d; want 1", n)
	}
}

// TestRecreatedServiceGetsNewID: deleting a service and creating one with
// the same name in the same namespace gives a new, random ID; the old ID
// names nothing, so a tool that kept it gets ServiceNotFound instead of
// silently addressing the new service.
func TestRecreatedServiceGetsNewID(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	for _, k := range []nsKind{httpNS, privateNS} {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			c := h.account()
			nsID, _ := newNamespace(t, c, k)
			first := createService(t, c, &sd.CreateServiceInput{Name: aws.String("again"), NamespaceId: aws.String(nsID)})
			if _, err := c.DeleteService(bg, &sd.DeleteServiceInput{Id: first.Id}); err != nil {
				t.Fatalf("DeleteService = %v", err)
			}
			again := createService(t, c, &sd.CreateServiceInput{Name: aws.String("again"), NamespaceId: aws.String(nsID), Description: aws.String("second life")})
			if *again.Id == *first.Id {
				t.Errorf("re-created service ID = %s; want a new ID, not the deleted one's", *again.Id)
			}
			if aws.ToInt32(again.InstanceCount) != 0 || aws.ToString(again.Description) != "second life" {
				t.Errorf("re-created service = %+v; want a fresh service", again)
			}
			if _, err := c.GetService(bg, &sd.GetServiceInput{Id: first.Id}); !isTypedError(err, "ServiceNotFound") {
				t.Errorf("GetService(the deleted ID %s) = %v; want ServiceNotFound", *first.Id, err)
			}
		})
	}
}

// TestDNSConfigRules: the record type combinations AWS accepts, and the
// ones it refuses.
func TestDNSConfigRules(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	pubID, _ := newNamespace(t, c, publicNS)
	privID, _ := newNamespace(t, c, privateNS)
	httpID, _ := newNamespace(t, c, httpNS)
	A, AAAA, SRV, CNAME := types.RecordTypeA, types.RecordTypeAaaa, types.RecordTypeSrv, types.RecordTypeCname
	hc := &types.HealthCheckConfig{Type: types.HealthCheckTypeHttp}
	tests := []struct {
		name    string
		ns      string
		types   []types.RecordType
		routing types.RoutingPolicy
		hc      *types.HealthCheckConfig
		ok      bool
	}{
		{name: "A", ns: privID, types: []types.RecordType{A}, ok: true},
		{name: "AAAA", ns: privID, types: []types.RecordType{AAAA}, ok: true},
		{name: "A and AAAA", ns: privID, types: []types.RecordType{A, AAAA}, ok: true},
		{name: "SRV", ns: privID, types: []types.RecordType{SRV}, ok: true},
		{name: "CNAME weighted", ns: privID, types: []types.RecordType{CNAME}, routing: types.RoutingPolicyWeighted, ok: true},
		{name: "A and SRV", ns: privID, types: []types.RecordType{A, SRV}, ok: true},
		{name: "AAAA and SRV", ns: privID, types: []types.RecordType{AAAA, SRV}, ok: true},
		{name: "A, AAAA and SRV", ns: privID, types: []types.RecordType{A, AAAA, SRV}, ok: true},
		{name: "SRV and A, weighted", ns: privID, types: []types.RecordType{SRV, A}, routing: types.RoutingPolicyWeighted, ok: true},
		{name: "A with a health check, public", ns: pubID, types: []types.RecordType{A}, hc: hc, ok: true},

		{name: "duplicate A", ns: privID, types: []types.RecordType{A, A}},
		{name: "duplicate SRV", ns: privID, types: []types.RecordType{SRV, A, SRV}},
		{name: "CNAME and A", ns: privID, types: []types.RecordType{CNAME, A}, routing: types.RoutingPolicyWeighted},
		{name: "CNAME and SRV", ns: privID, types: []types.RecordType{SRV, CNAME}, routing: types.RoutingPolicyWeighted},
		{name: "CNAME multivalue", ns: privID, types: []types.RecordType{CNAME}, routing: types.RoutingPolicyMultivalue},
		{name: "CNAME default routing", ns: privID, types: []types.RecordType{CNAME}},
		{name: "CNAME with a health check", ns: pubID, types: []types.RecordType{CNAME}, routing: types.RoutingPolicyWeighted, hc: hc},
		{name: "DnsConfig in an HTTP namespace", ns: httpID, types: []types.RecordType{A}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := &sd.CreateServiceInput{Name: aws.String(uniq("rec")), NamespaceId: aws.String(tc.ns), HealthCheckConfig: tc.hc,
				DnsConfig: &types.DnsConfig{RoutingPolicy: tc.routing, DnsRecords: records(60, tc.types...)}}
			out, err := c.CreateService(bg, in)
			if !tc.ok {
				apiError(t, err, "InvalidInput")
				return
			}
			if err != nil {
				t.Fatalf("CreateService with records %v = %v; want it accepted", tc.types, err)
			}
			if d := diff(records(60, tc.types...), out.Service.DnsConfig.DnsRecords); d != "" {
				t.Errorf("DnsRecords echo (-want +got):\n%s", d)
			}
			wantRouting := tc.routing
			if wantRouting == "" {
				wantRouting = types.RoutingPolicyMultivalue
			}
			if out.Service.DnsConfig.RoutingPolicy != wantRouting {
				t.Errorf("RoutingPolicy = %q; want %q", out.Service.DnsConfig.RoutingPolicy, wantRouting)
			}
		})
	}
}

// TestHealthCheckConfigRules: HealthCheckConfig and HealthCheckCustomConfig
// exclude each other; HealthCheckConfig is for public DNS and HTTP
// namespaces only; TCP checks take no ResourcePath.
func TestHealthCheckConfigRules(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	pubID, _ := newNamespace(t, c, publicNS)
	privID, _ := newNamespace(t, c, privateNS)
	httpID, _ := newNamespace(t, c, httpNS)
	a := &types.DnsConfig{DnsRecords: records(60, types.RecordTypeA)}
	tests := []struct {
		name   string
		ns     string
		dns    *types.DnsConfig
		hc     *types.HealthCheckConfig
		custom *types.HealthCheckCustomConfig
		ok     bool
	}{
		{name: "HTTP check, public DNS", ns: pubID, dns: a, hc: &types.HealthCheckConfig{Type: types.HealthCheckTypeHttp, ResourcePath: aws.String("/ping")}, ok: true},
		{name: "TCP check without ResourcePath, public DNS", ns: pubID, dns: a, hc: &types.HealthCheckConfig{Type: types.HealthCheckTypeTcp, FailureThreshold: aws.Int32(2)}, ok: true},
		// API reference, CreateService.HealthCheckConfig: "Public DNS and HTTP namespaces only."
		{name: "HTTP check, HTTP namespace", ns: httpID, hc: &types.HealthCheckConfig{Type: types.HealthCheckTypeHttp}, ok: true},
		{name: "custom health, private DNS", ns: privID, dns: a, custom: &types.HealthCheckCustomConfig{}, ok: true},
		{name: "custom health, public DNS", ns: pubID, dns: a, custom: &types.HealthCheckCustomConfig{FailureThreshold: aws.Int32(10)}, ok: true},

		{name: "both configs", ns: pubID, dns: a, hc: &types.HealthCheckConfig{Type: types.HealthCheckTypeHttp}, custom: &types.HealthCheckCustomConfig{}},
		{name: "HTTP check, private DNS", ns: privID, dns: a, hc: &types.HealthCheckConfig{Type: types.HealthCheckTypeHttp}},
		{name: "TCP check with ResourcePath", ns: pubID, dns: a, hc: &types.HealthCheckConfig{Type: types.HealthCheckTypeTcp, ResourcePath: aws.String("/")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := c.CreateService(bg, &sd.CreateServiceInput{Name: aws.String(uniq("hc")), NamespaceId: aws.String(tc.ns), DnsConfig: tc.dns,
				HealthCheckConfig: tc.hc, HealthCheckCustomConfig: tc.custom})
			if !tc.ok {
				apiError(t, err, "InvalidInput")
				return
			}
			if err != nil {
				t.Fatalf("CreateService = %v; want it accepted", err)
			}
			s := out.Service
			if tc.hc != nil {
				if s.HealthCheckConfig == nil || s.HealthCheckConfig.Type != tc.hc.Type {
					t.Errorf("HealthCheckConfig = %+v; want Type %s", s.HealthCheckConfig, tc.hc.Type)
				}
				if tc.hc.ResourcePath != nil && aws.ToString(s.HealthCheckConfig.ResourcePath) != *tc.hc.ResourcePath {
					t.Errorf("HealthCheckConfig.ResourcePath = %q; want %q", aws.ToString(s.HealthCheckConfig.ResourcePath), *tc.hc.ResourcePath)
				}
				if tc.hc.FailureThreshold != nil && aws.ToInt32(s.HealthCheckConfig.FailureThreshold) != *tc.hc.FailureThreshold {
					t.Errorf("HealthCheckConfig.FailureThreshold = %d; want %d", aws.ToInt32(s.HealthCheckConfig.FailureThreshold), *tc.hc.FailureThreshold)
				}
				if tc.hc.Type == types.HealthCheckTypeTcp && s.HealthCheckConfig.ResourcePath != nil {
					t.Errorf("TCP HealthCheckConfig.ResourcePath = %q; want none", *s.HealthCheckConfig.ResourcePath)
				}
			}
			if tc.custom != nil {
				if d := diff(&types.HealthCheckCustomConfig{FailureThreshold: aws.Int32(1)}, s.HealthCheckCustomConfig); d != "" {
					t.Errorf("HealthCheckCustomConfig (-want +got):\n%s", d)
				}
			}
		})
	}
}

// TestUpdateService: TTLs change, record types left out are removed, record
// types cannot be added, HealthCheckConfig left out is removed, and services
// of HTTP namespaces cannot be updated.
func TestUpdateService(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	pubID, _ := newNamespace(t, c, publicNS)
	httpID, _ := newNamespace(t, c, httpNS)
	A, AAAA, SRV := types.RecordTypeA, types.RecordTypeAaaa, types.RecordTypeSrv
	hc := &types.HealthCheckConfig{Type: types.HealthCheckTypeHttp, ResourcePath: aws.String("/hc"), FailureThreshold: aws.Int32(2)}

	var updateRef func(t *testing.T, ref, id string, ch *types.ServiceChange) *types.Service
	update := func(t *testing.T, id string, ch *types.ServiceChange) *types.Service {
		t.Helper()
		return updateRef(t, id, id, ch)
	}
	updateRef = func(t *testing.T, ref, id string, ch *types.ServiceChange) *types.Service {
		t.Helper()
		before := time.Now()
		out, err := c.UpdateService(bg, &sd.UpdateServiceInput{Id: aws.String(ref), Service: ch})
		if err != nil {
			t.Fatalf("UpdateService(%s) = %v", id, err)
		}
		op := successfulOperation(t, c, *out.OperationId)
		if op.Type != types.OperationTypeUpdateService {
			t.Errorf("Operation.Type = %s; want UPDATE_SERVICE", op.Type)
		}
		if got := op.Targets["SERVICE"]; got != id {
			t.Errorf("Operation.Targets = %v; want SERVICE %s", op.Targets, id)
		}
		checkNear(t, "Operation.CreateDate", op.CreateDate, before, time.Now())
		g, err := c.GetService(bg, &sd.GetServiceInput{Id: aws.String(id)})
		if err != nil {
			t.Fatalf("GetService = %v", err)
		}
		return g.Service
	}
	newSvc := func(t *testing.T, withHC bool, ts ...types.RecordType) *types.Service {
		t.Helper()
		in := &sd.CreateServiceInput{Name: aws.String(uniq("upd")), NamespaceId: aws.String(pubID), Description: aws.String("before"),
			DnsConfig: &types.DnsConfig{RoutingPolicy: types.RoutingPolicyWeighted, DnsRecords: records(60, ts...)}}
		if withHC {
			in.HealthCheckConfig = hc
		}
		return createService(t, c, in)
	}

	t.Run("TTL and description", func(t *testing.T) {
		t.Parallel()
		s := newSvc(t, true, A, SRV)
		got := update(t, *s.Id, &types.ServiceChange{Description: aws.String("after"), HealthCheckConfig: hc,
			DnsConfig: &types.DnsConfigChange{DnsRecords: records(300, A, SRV)}})
		want := &types.DnsConfig{NamespaceId: aws.String(pubID), RoutingPolicy: types.RoutingPolicyWeighted, DnsRecords: records(300, A, SRV)}
		if d := diff(want, got.DnsConfig); d != "" {
			t.Errorf("DnsConfig after update (-want +got):\n%s", d)
		}
		if aws.ToString(got.Description) != "after" {
			t.Errorf("Description = %q; want after", aws.ToString(got.Description))
		}
		if d := diff(hc, got.HealthCheckConfig); d != "" {
			t.Errorf("HealthCheckConfig (-want +got):\n%s", d)
		}
		if d := diff(s.CreateDate, got.CreateDate); d != "" {
			t.Errorf("CreateDate changed by UpdateService:\n%s", d)
		}
	})
	t.Run("records left out are removed", func(t *testing.T) {
		t.Parallel()
		s := newSvc(t, false, A, AAAA, SRV)
		got := update(t, *s.Id, &types.ServiceChange{DnsConfig: &types.DnsConfigChange{DnsRecords: records(60, AAAA)}})
		if d := diff(records(60, AAAA), got.DnsConfig.DnsRecords); d != "" {
			t.Errorf("DnsRecords after update (-want +got):\n%s", d)
		}
	})
	t.Run("adding a record type", func(t *testing.T) {
		t.Parallel()
		s := newSvc(t, false, A)
		_, err := c.UpdateService(bg, &sd.UpdateServiceInput{Id: s.Id, Service: &types.ServiceChange{DnsConfig: &types.DnsConfigChange{DnsRecords: records(60, A, AAAA)}}})
		apiError(t, err, "InvalidInput")
	})
	t.Run("HealthCheckConfig left out is removed", func(t *testing.T) {
		t.Parallel()
		s := newSvc(t, true, A)
		got := update(t, *s.Id, &types.ServiceChange{DnsConfig: &types.DnsConfigChange{DnsRecords: records(60, A)}})
		if got.HealthCheckConfig != nil {
			t.Errorf("HealthCheckConfig after an update without it = %+v; want it deleted", got.HealthCheckConfig)
		}
	})
	t.Run("HealthCheckConfig added", func(t *testing.T) {
		t.Parallel()
		s := newSvc(t, false, A)
		got := update(t, *s.Id, &types.ServiceChange{HealthCheckConfig: hc, DnsConfig: &types.DnsConfigChange{DnsRecords: records(60, A)}})
		if d := diff(hc, got.HealthCheckConfig); d != "" {
			t.Errorf("HealthCheckConfig after adding it (-want +got):\n%s", d)
		}
	})
	t.Run("health check type change", func(t *testing.T) {
		t.Parallel()
		// HealthCheckConfig.Type: "You can't change the value of Type after
		// you create a health check."
		s := newSvc(t, true, A)
		_, err := c.UpdateService(bg, &sd.UpdateServiceInput{Id: s.Id, Service: &types.ServiceChange{
			HealthCheckConfig: &types.HealthCheckConfig{Type: types.HealthCheckTypeTcp}, DnsConfig: &types.DnsConfigChange{DnsRecords: records(60, A)}}})
		apiError(t, err, "InvalidInput")
	})
	t.Run("HealthCheckConfig added to custom health", func(t *testing.T) {
		t.Parallel()
		s := createService(t, c, &sd.CreateServiceInput{Name: aws.String(uniq("custom")), NamespaceId: aws.String(pubID),
			DnsConfig: &types.DnsConfig{DnsRecords: records(60, A)}, HealthCheckCustomConfig: &types.HealthCheckCustomConfig{}})
		_, err := c.UpdateService(bg, &sd.UpdateServiceInput{Id: s.Id, Service: &types.ServiceChange{HealthCheckConfig: hc, DnsConfig: &types.DnsConfigChange{DnsRecords: records(60, A)}}})
		apiError(t, err, "InvalidInput")
	})
	t.Run("custom health kept", func(t *testing.T) {
		t.Parallel()
		s := createService(t, c, &sd.CreateServiceInput{Name: aws.String(uniq("custom")), NamespaceId: aws.String(pubID),
			DnsConfig: &types.DnsConfig{DnsRecords: records(60, A)}, HealthCheckCustomConfig: &types.HealthCheckCustomConfig{}})
		got := update(t, *s.Id, &types.ServiceChange{DnsConfig: &types.DnsConfigChange{DnsRecords: records(5, A)}})
		if d := diff(&types.HealthCheckCustomConfig{FailureThreshold: aws.Int32(1)}, got.HealthCheckCustomConfig); d != "" {
			t.Errorf("HealthCheckCustomConfig after update (-want +got):\n%s", d)
		}
	})
	t.Run("by ARN", func(t *testing.T) {
		t.Parallel()
		s := newSvc(t, false, A)
		got := updateRef(t, *s.Arn, *s.Id, &types.ServiceChange{DnsConfig: &types.DnsConfigChange{DnsRecords: records(7, A)}})
		if aws.ToInt64(got.DnsConfig.DnsRecords[0].TTL) != 7 {
			t.Errorf("TTL after update by ARN = %d; want 7", aws.ToInt64(got.DnsConfig.DnsRecords[0].TTL))
		}
	})
	t.Run("HTTP namespace", func(t *testing.T) {
		t.Parallel()
		s := httpService(t, c, httpID)
		_, err := c.UpdateService(bg, &sd.UpdateServiceInput{Id: s.Id, Service: &types.ServiceChange{Description: aws.String("x")}})
		apiError(t, err, "InvalidInput")
	})
}

// TestDeleteService deletes a service and refuses one that has instances.
func TestDeleteService(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	nsID, _ := newNamespace(t, c, privateNS)
	s := dnsService(t, c, nsID, "", types.RecordTypeA)
	register(t, c, *s.Id, "i-1", ipv4(1))
	_, err := c.DeleteService(bg, &sd.DeleteServiceInput{Id: s.Id})
	e := apiError(t, err, "ResourceInUse")
	if got, want := e.ErrorMessage(), "Service contains registered instances; delete the instances before deleting the service"; got != want {
		t.Errorf("ResourceInUse message = %q; want %q (hashicorp/terraform-provider-aws#4853)", got, want)
	}
	out, err := c.DeregisterInstance(bg, &sd.DeregisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("i-1")})
	if err != nil {
		t.Fatalf("DeregisterInstance = %v", err)
	}
	successfulOperation(t, c, *out.OperationId)
	if _, err := c.DeleteService(bg, &sd.DeleteServiceInput{Id: s.Arn}); err != nil {
		t.Fatalf("DeleteService(ARN) = %v", err)
	}
	_, err = c.GetService(bg, &sd.GetServiceInput{Id: s.Id})
	apiError(t, err, "ServiceNotFound")
	_, err = c.DeleteService(bg, &sd.DeleteServiceInput{Id: s.Id})
	apiError(t, err, "ServiceNotFound")
	if n := aws.ToInt32(getNamespace(t, c, nsID).ServiceCount); n != 0 {
		t.Errorf("ServiceCount after DeleteService = %d; want 0", n)
	}
}

// TestServiceAttributes: UpdateServiceAttributes merges, at most 30 in
// all; DeleteServiceAttributes ignores missing keys; the attributes go with
// the service.
func TestServiceAttributes(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	account := newAccount()
	c := h.client(account, defaultRegion)
	nsID, _ := newNamespace(t, c, httpNS)

	get := func(t *testing.T, id string) *types.ServiceAttributes {
		t.Helper()
		out, err := c.GetServiceAttributes(bg, &sd.GetServiceAttributesInput{ServiceId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetServiceAttributes = %v", err)
		}
		return out.ServiceAttributes
	}
	set := func(t *testing.T, id string, attrs map[string]string) error {
		t.Helper()
		_, err := c.UpdateServiceAttributes(bg, &sd.UpdateServiceAttributesInput{ServiceId: aws.String(id), Attributes: attrs})
		return err
	}
	many := func(prefix string, n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("%s%02d", prefix, i)] = "v"
		}
		return m
	}

	t.Run("merge and delete", func(t *testing.T) {
		t.Parallel()
		s := httpService(t, c, nsID)
		if d := diff(&types.ServiceAttributes{ServiceArn: s.Arn, ResourceOwner: aws.String(account), Attributes: map[string]string{}}, get(t, *s.Id),
			nilMapIsEmpty); d != "" {
			t.Errorf("attributes of a new service (-want +got):\n%s", d)
		}
		if err := set(t, *s.Id, map[string]string{"a": "1", "b": "2"}); err != nil {
			t.Fatal(err)
		}
		if err := set(t, *s.Arn, map[string]string{"b": "3", "c": "4"}); err != nil {
			t.Fatalf("UpdateServiceAttributes(ARN) = %v", err)
		}
		want := &types.ServiceAttributes{ServiceArn: s.Arn, ResourceOwner: aws.String(account), Attributes: map[string]string{"a": "1", "b": "3", "c": "4"}}
		if d := diff(want, get(t, *s.Id)); d != "" {
			t.Errorf("after two updates (-want +got):\n%s", d)
		}
		if _, err := c.DeleteServiceAttributes(bg, &sd.DeleteServiceAttributesInput{ServiceId: s.Id, Attributes: []string{"a", "missing"}}); err != nil {
			t.Fatalf("DeleteServiceAttributes with a missing key = %v", err)
		}
		delete(want.Attributes, "a")
		if d := diff(want, get(t, *s.Id)); d != "" {
			t.Errorf("after delete (-want +got):\n%s", d)
		}
		if _, err := c.DeleteServiceAttributes(bg, &sd.DeleteServiceAttributesInput{ServiceId: s.Id, Attributes: []string{"nothing-here"}}); err != nil {
			t.Fatalf("DeleteServiceAttributes of only missing keys = %v", err)
		}
	})
	t.Run("limit of 30", func(t *testing.T) {
		t.Parallel()
		s := httpService(t, c, nsID)
		if err := set(t, *s.Id, many("a", 15)); err != nil {
			t.Fatal(err)
		}
		if err := set(t, *s.Id, many("b", 15)); err != nil {
			t.Fatalf("reaching 30 attributes = %v", err)
		}
		apiError(t, set(t, *s.Id, map[string]string{"one-more": "x"}), "ServiceAttributesLimitExceededException")
		if err := set(t, *s.Id, map[string]string{"a00": "replaced"}); err != nil {
			t.Errorf("replacing a value at the limit = %v; want it accepted", err)
		}
		if n := len(get(t, *s.Id).Attributes); n != 30 {
			t.Errorf("attributes = %d; want 30", n)
		}
		// One request may not carry more than 30 (model: map length 1..30).
		apiError(t, set(t, *httpService(t, c, nsID).Id, many("c", 31)), "InvalidInput")
	})
	t.Run("deleted with the service", func(t *testing.T) {
		t.Parallel()
		s := httpService(t, c, nsID, func(in *sd.CreateServiceInput) { in.Name = aws.String("attrs-gone") })
		if err := set(t, *s.Id, map[string]string{"k": "v"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteService(bg, &sd.DeleteServiceInput{Id: s.Id}); err != nil {
			t.Fatal(err)
		}
		again := httpService(t, c, nsID, func(in *sd.CreateServiceInput) { in.Name = aws.String("attrs-gone") })
		if got := get(t, *again.Id).Attributes; len(got) != 0 {
			t.Errorf("attributes of the re-created service = %v; want none", got)
		}
	})
}

// nilMapIsEmpty treats a nil map or slice like an empty one.
var nilMapIsEmpty = cmpopts.EquateEmpty()
