package conformance

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"

	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/server"
)

// errorMatrix maps every modeled error of every operation (botocore model,
// cloudmap.ModeledErrors) to the tests that produce it, comma-separated
// ("TestModeledErrors/<op>/<code>" is the case below; others are behaviour
// tests that also assert it), or, after "never: ", the reason mapmesh never
// returns it. TestErrorMatrixComplete keeps it in step with the model.
var errorMatrix = map[string]map[string]string{
	"CreateHttpNamespace": {
		"InvalidInput":           "TestModeledErrors/CreateHttpNamespace/InvalidInput, TestValidationMessages",
		"NamespaceAlreadyExists": "TestModeledErrors/CreateHttpNamespace/NamespaceAlreadyExists, TestNamespaceNameUniqueness",
		"ResourceLimitExceeded":  "TestModeledErrors/CreateHttpNamespace/ResourceLimitExceeded, TestQuotas",
		"DuplicateRequest":       "TestModeledErrors/CreateHttpNamespace/DuplicateRequest, TestNamespaceIdempotency",
		"TooManyTagsException":   "TestModeledErrors/CreateHttpNamespace/TooManyTagsException, TestTags",
	},
	"CreatePrivateDnsNamespace": {
		"InvalidInput": "TestModeledErrors/CreatePrivateDnsNamespace/InvalidInput, TestValidationMessages",
		"NamespaceAlreadyExists": "never: a name clash of private DNS namespaces is not a synchronous error. In the same VPC the call is " +
			"accepted and its operation FAILs with CANNOT_CREATE_HOSTED_ZONE, as Route 53 refuses the overlapping zone " +
			"(TestNamespaceNameUniqueness); in another VPC, or beside an HTTP or public namespace of the same name, the " +
			"namespace is created with a hash added to its HttpName (TestNamespaceNameUniqueness)",
		"ResourceLimitExceeded": "TestModeledErrors/CreatePrivateDnsNamespace/ResourceLimitExceeded, TestQuotas",
		"DuplicateRequest":      "TestModeledErrors/CreatePrivateDnsNamespace/DuplicateRequest, TestNamespaceIdempotency",
		"TooManyTagsException":  "TestModeledErrors/CreatePrivateDnsNamespace/TooManyTagsException",
	},
	"CreatePublicDnsNamespace": {
		"InvalidInput":           "TestModeledErrors/CreatePublicDnsNamespace/InvalidInput",
		"NamespaceAlreadyExists": "TestModeledErrors/CreatePublicDnsNamespace/NamespaceAlreadyExists, TestNamespaceNameUniqueness",
		"ResourceLimitExceeded":  "TestModeledErrors/CreatePublicDnsNamespace/ResourceLimitExceeded, TestQuotas",
		"DuplicateRequest":       "TestModeledErrors/CreatePublicDnsNamespace/DuplicateRequest, TestNamespaceIdempotency",
		"TooManyTagsException":   "TestModeledErrors/CreatePublicDnsNamespace/TooManyTagsException",
	},
	"CreateService": {
		"InvalidInput":          "TestModeledErrors/CreateService/InvalidInput, TestDNSConfigRules, TestHealthCheckConfigRules",
		"ResourceLimitExceeded": "TestModeledErrors/CreateService/ResourceLimitExceeded, TestQuotas",
		"NamespaceNotFound":     "TestModeledErrors/CreateService/NamespaceNotFound",
		"ServiceAlreadyExists":  "TestModeledErrors/CreateService/ServiceAlreadyExists, TestServiceNameUniqueness",
		"TooManyTagsException":  "TestModeledErrors/CreateService/TooManyTagsException, TestTags",
	},
	"DeleteNamespace": {
		"InvalidInput":      "TestModeledErrors/DeleteNamespace/InvalidInput",
		"NamespaceNotFound": "TestModeledErrors/DeleteNamespace/NamespaceNotFound, TestDeleteNamespace",
		"ResourceInUse":     "TestModeledErrors/DeleteNamespace/ResourceInUse, TestDeleteNamespace",
		"DuplicateRequest": "never: AWS returns it when another operation on the namespace is still in progress; mapmesh " +
			"completes every operation before the call returns, so none is ever in flight, and DeleteNamespace has no " +
			"request token that could be reused",
	},
	"DeleteService": {
		"InvalidInput":    "TestModeledErrors/DeleteService/InvalidInput",
		"ServiceNotFound": "TestModeledErrors/DeleteService/ServiceNotFound, TestDeleteService",
		"ResourceInUse":   "TestModeledErrors/DeleteService/ResourceInUse, TestDeleteService",
	},
	"DeleteServiceAttributes": {
		"InvalidInput":    "TestModeledErrors/DeleteServiceAttributes/InvalidInput",
		"ServiceNotFound": "TestModeledErrors/DeleteServiceAttributes/ServiceNotFound",
	},
	"DeregisterInstance": {
		"DuplicateRequest": "never: AWS returns it while a RegisterInstance or DeregisterInstance of the same instance is " +
			"still in progress; mapmesh's operations complete synchronously, and DeregisterInstance has no request token",
		"InvalidInput":     "TestModeledErrors/DeregisterInstance/InvalidInput",
		"InstanceNotFound": "TestModeledErrors/DeregisterInstance/InstanceNotFound, TestRegisterInstance",
		"ResourceInUse": "never: on AWS the instance's records or health check are still being changed by an unfinished " +
			"operation; mapmesh has no unfinished operations",
		"ServiceNotFound": "TestModeledErrors/DeregisterInstance/ServiceNotFound",
	},
	"DiscoverInstances": {
		"ServiceNotFound":   "TestModeledErrors/DiscoverInstances/ServiceNotFound, TestDiscoverInstances",
		"NamespaceNotFound": "TestModeledErrors/DiscoverInstances/NamespaceNotFound, TestDiscoverInstances, TestAccounts",
		"InvalidInput":      "TestModeledErrors/DiscoverInstances/InvalidInput, TestDiscoverMaxResults",
		"RequestLimitExceeded": "never: mapmesh does not throttle the data plane (AWS: DiscoverInstances 1,000 requests " +
			"per second, bursts of 2,000, per account and Region)",
	},
	"DiscoverInstancesRevision": {
		"ServiceNotFound":      "TestModeledErrors/DiscoverInstancesRevision/ServiceNotFound, TestDiscoverInstances",
		"NamespaceNotFound":    "TestModeledErrors/DiscoverInstancesRevision/NamespaceNotFound, TestDiscoverInstances",
		"InvalidInput":         "TestModeledErrors/DiscoverInstancesRevision/InvalidInput",
		"RequestLimitExceeded": "never: mapmesh does not throttle the data plane (AWS: 3,000 requests per second)",
	},
	"GetInstance": {
		"InstanceNotFound": "TestModeledErrors/GetInstance/InstanceNotFound, TestRegisterInstance",
		"InvalidInput":     "TestModeledErrors/GetInstance/InvalidInput, TestValidationMessages",
		"ServiceNotFound":  "TestModeledErrors/GetInstance/ServiceNotFound, TestAccounts",
	},
	"GetInstancesHealthStatus": {
		"InstanceNotFound": "TestModeledErrors/GetInstancesHealthStatus/InstanceNotFound, TestCustomHealth",
		"InvalidInput":     "TestModeledErrors/GetInstancesHealthStatus/InvalidInput, TestPagination",
		"ServiceNotFound":  "TestModeledErrors/GetInstancesHealthStatus/ServiceNotFound",
	},
	"GetNamespace": {
		"InvalidInput":      "TestModeledErrors/GetNamespace/InvalidInput, TestValidationMessages",
		"NamespaceNotFound": "TestModeledErrors/GetNamespace/NamespaceNotFound, TestAccounts, TestRegions",
	},
	"GetOperation": {
		"InvalidInput":      "TestModeledErrors/GetOperation/InvalidInput",
		"OperationNotFound": "TestModeledErrors/GetOperation/OperationNotFound, TestOperations, TestAccounts",
	},
	"GetService": {
		"InvalidInput":    "TestModeledErrors/GetService/InvalidInput",
		"ServiceNotFound": "TestModeledErrors/GetService/ServiceNotFound, TestDeleteService",
	},
	"GetServiceAttributes": {
		"InvalidInput":    "TestModeledErrors/GetServiceAttributes/InvalidInput",
		"ServiceNotFound": "TestModeledErrors/GetServiceAttributes/ServiceNotFound",
	},
	"ListInstances": {
		"ServiceNotFound": "TestModeledErrors/ListInstances/ServiceNotFound",
		"InvalidInput":    "TestModeledErrors/ListInstances/InvalidInput, TestPagination",
	},
	"ListNamespaces": {
		"InvalidInput": "TestModeledErrors/ListNamespaces/InvalidInput, TestListNamespacesFilters, TestPagination",
	},
	"ListOperations": {
		"InvalidInput": "TestModeledErrors/ListOperations/InvalidInput, TestListOperationsFilters, TestPagination",
	},
	"ListServices": {
		"InvalidInput": "TestModeledErrors/ListServices/InvalidInput, TestListServicesFilters, TestPagination",
	},
	"ListTagsForResource": {
		"ResourceNotFoundException": "TestModeledErrors/ListTagsForResource/ResourceNotFoundException, TestTags",
		"InvalidInput":              "TestModeledErrors/ListTagsForResource/InvalidInput",
	},
	"RegisterInstance": {
		"DuplicateRequest": "TestModeledErrors/RegisterInstance/DuplicateRequest, TestRegisterInstanceIdempotency",
		"InvalidInput":     "TestModeledErrors/RegisterInstance/InvalidInput, TestInstanceAttributeRules",
		"ResourceInUse": "never: on AWS an earlier operation on the same instance is unfinished; mapmesh finishes every " +
			"operation before the call returns",
		"ResourceLimitExceeded": "TestModeledErrors/RegisterInstance/ResourceLimitExceeded, TestQuotas",
		"ServiceNotFound":       "TestModeledErrors/RegisterInstance/ServiceNotFound",
	},
	"TagResource": {
		"ResourceNotFoundException": "TestModeledErrors/TagResource/ResourceNotFoundException, TestTags",
		"TooManyTagsException":      "TestModeledErrors/TagResource/TooManyTagsException, TestTags",
		"InvalidInput":              "TestModeledErrors/TagResource/InvalidInput",
	},
	"UntagResource": {
		"ResourceNotFoundException": "TestModeledErrors/UntagResource/ResourceNotFoundException, TestTags",
		"InvalidInput":              "TestModeledErrors/UntagResource/InvalidInput",
	},
	"UpdateHttpNamespace": {
		"InvalidInput":      "TestModeledErrors/UpdateHttpNamespace/InvalidInput, TestValidationMessages",
		"NamespaceNotFound": "TestModeledErrors/UpdateHttpNamespace/NamespaceNotFound",
		"ResourceInUse": "never: on AWS the namespace is still being changed by an unfinished operation; mapmesh " +
			"completes operations synchronously",
		"DuplicateRequest": "TestModeledErrors/UpdateHttpNamespace/DuplicateRequest, TestUpdateNamespace",
	},
	"UpdateInstanceCustomHealthStatus": {
		"InstanceNotFound":     "TestModeledErrors/UpdateInstanceCustomHealthStatus/InstanceNotFound, TestCustomHealth",
		"ServiceNotFound":      "TestModeledErrors/UpdateInstanceCustomHealthStatus/ServiceNotFound",
		"CustomHealthNotFound": "TestModeledErrors/UpdateInstanceCustomHealthStatus/CustomHealthNotFound, TestCustomHealth",
		"InvalidInput":         "TestModeledErrors/UpdateInstanceCustomHealthStatus/InvalidInput",
	},
	"UpdatePrivateDnsNamespace": {
		"InvalidInput":      "TestModeledErrors/UpdatePrivateDnsNamespace/InvalidInput",
		"NamespaceNotFound": "TestModeledErrors/UpdatePrivateDnsNamespace/NamespaceNotFound",
		"ResourceInUse": "never: on AWS the hosted zone is still being changed by an unfinished operation; mapmesh " +
			"completes operations synchronously",
		"DuplicateRequest": "TestModeledErrors/UpdatePrivateDnsNamespace/DuplicateRequest, TestUpdateNamespace",
	},
	"UpdatePublicDnsNamespace": {
		"InvalidInput":      "TestModeledErrors/UpdatePublicDnsNamespace/InvalidInput",
		"NamespaceNotFound": "TestModeledErrors/UpdatePublicDnsNamespace/NamespaceNotFound",
		"ResourceInUse": "never: on AWS the hosted zone is still being changed by an unfinished operation; mapmesh " +
			"completes operations synchronously",
		"DuplicateRequest": "TestModeledErrors/UpdatePublicDnsNamespace/DuplicateRequest, TestUpdateNamespace",
	},
	"UpdateService": {
		"DuplicateRequest": "never: AWS returns it while another UpdateService of the service is in progress; mapmesh " +
			"completes operations synchronously, and UpdateService has no request token",
		"InvalidInput":    "TestModeledErrors/UpdateService/InvalidInput, TestUpdateService",
		"ServiceNotFound": "TestModeledErrors/UpdateService/ServiceNotFound",
	},
	"UpdateServiceAttributes": {
		"InvalidInput":    "TestModeledErrors/UpdateServiceAttributes/InvalidInput, TestServiceAttributes",
		"ServiceNotFound": "TestModeledErrors/UpdateServiceAttributes/ServiceNotFound",
		"ServiceAttributesLimitExceededException": "TestModeledErrors/UpdateServiceAttributes/ServiceAttributesLimitExceededException, TestServiceAttributes",
	},
}

// operations are the 30 operations of the Cloud Map API.
var operations = []string{
	"CreateHttpNamespace", "CreatePrivateDnsNamespace", "CreatePublicDnsNamespace", "CreateService",
	"DeleteNamespace", "DeleteService", "DeleteServiceAttributes", "DeregisterInstance",
	"DiscoverInstances", "DiscoverInstancesRevision", "GetInstance", "GetInstancesHealthStatus",
	"GetNamespace", "GetOperation", "GetService", "GetServiceAttributes",
	"ListInstances", "ListNamespaces", "ListOperations", "ListServices", "ListTagsForResource",
	"RegisterInstance", "TagResource", "UntagResource", "UpdateHttpNamespace",
	"UpdateInstanceCustomHealthStatus", "UpdatePrivateDnsNamespace", "UpdatePublicDnsNamespace",
	"UpdateService", "UpdateServiceAttributes",
}

// errorCase makes one operation fail with one modeled error. run gets a
// client of a fresh account on a server with smallQuotas; it returns the
// failing call's error (and may check the error's extra members itself).
type errorCase struct {
	op, code string
	run      func(t *testing.T, c *sd.Client) error
}

// errAs returns err as the SDK's typed error T.
func errAs[T error](err error) (T, bool) {
	var e T
	ok := errors.As(err, &e)
	return e, ok
}

const unknownNS, unknownSvc = "ns-aaaaaaaaaaaaaaaa", "srv-aaaaaaaaaaaaaaaa"

var errorCases = []errorCase{
	// ---- CreateHttpNamespace ----
	{"CreateHttpNamespace", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.CreateHttpNamespace(bg, &sd.CreateHttpNamespaceInput{Name: aws.String("arn:not-a-name")})
		return err
	}},
	{"CreateHttpNamespace", "NamespaceAlreadyExists", func(t *testing.T, c *sd.Client) error {
		id, _ := createHTTPNamespace(t, c, "dup", func(in *sd.CreateHttpNamespaceInput) { in.CreatorRequestId = aws.String("first") })
		_, err := c.CreateHttpNamespace(bg, &sd.CreateHttpNamespaceInput{Name: aws.String("dup")})
		if e, ok := errAs[*types.NamespaceAlreadyExists](err); ok && (aws.ToString(e.NamespaceId) != id || aws.ToString(e.CreatorRequestId) != "first") {
			t.Errorf("NamespaceAlreadyExists{NamespaceId: %q, CreatorRequestId: %q}; want {%q, first}", aws.ToString(e.NamespaceId), aws.ToString(e.CreatorRequestId), id)
		}
		return err
	}},
	{"CreateHttpNamespace", "ResourceLimitExceeded", func(t *testing.T, c *sd.Client) error {
		createHTTPNamespace(t, c, "one")
		createHTTPNamespace(t, c, "two")
		_, err := c.CreateHttpNamespace(bg, &sd.CreateHttpNamespaceInput{Name: aws.String("three")})
		return err
	}},
	{"CreateHttpNamespace", "DuplicateRequest", func(t *testing.T, c *sd.Client) error {
		_, op := createHTTPNamespace(t, c, "tok", func(in *sd.CreateHttpNamespaceInput) { in.CreatorRequestId = aws.String("t1") })
		_, err := c.CreateHttpNamespace(bg, &sd.CreateHttpNamespaceInput{Name: aws.String("tok"), CreatorRequestId: aws.String("t1"), Description: aws.String("changed")})
		checkDuplicateOperation(t, err, op)
		return err
	}},
	{"CreateHttpNamespace", "TooManyTagsException", func(t *testing.T, c *sd.Client) error {
		_, err := c.CreateHttpNamespace(bg, &sd.CreateHttpNamespaceInput{Name: aws.String("tags"), Tags: tagList("k", 51)})
		return err
	}},

	// ---- CreatePrivateDnsNamespace ----
	{"CreatePrivateDnsNamespace", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.CreatePrivateDnsNamespace(bg, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String("x.internal"), Vpc: aws.String(strings.Repeat("v", 65))})
		return err
	}},
	{"CreatePrivateDnsNamespace", "ResourceLimitExceeded", func(t *testing.T, c *sd.Client) error {
		createPrivateNamespace(t, c, "one.internal", "vpc-1")
		createHTTPNamespace(t, c, "two")
		_, err := c.CreatePrivateDnsNamespace(bg, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String("three.internal"), Vpc: aws.String("vpc-1")})
		return err
	}},
	{"CreatePrivateDnsNamespace", "DuplicateRequest", func(t *testing.T, c *sd.Client) error {
		_, op := createPrivateNamespace(t, c, "tok.internal", "vpc-1", func(in *sd.CreatePrivateDnsNamespaceInput) { in.CreatorRequestId = aws.String("t1") })
		_, err := c.CreatePrivateDnsNamespace(bg, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String("tok.internal"), Vpc: aws.String("vpc-2"), CreatorRequestId: aws.String("t1")})
		checkDuplicateOperation(t, err, op)
		return err
	}},
	{"CreatePrivateDnsNamespace", "TooManyTagsException", func(t *testing.T, c *sd.Client) error {
		_, err := c.CreatePrivateDnsNamespace(bg, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String("tags.internal"), Vpc: aws.String("vpc-1"), Tags: tagList("k", 51)})
		return err
	}},

	// ---- CreatePublicDnsNamespace ----
	{"CreatePublicDnsNamespace", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.CreatePublicDnsNamespace(bg, &sd.CreatePublicDnsNamespaceInput{Name: aws.String("not_a_host.example.com")})
		return err
	}},
	{"CreatePublicDnsNamespace", "NamespaceAlreadyExists", func(t *testing.T, c *sd.Client) error {
		id, _ := createPublicNamespace(t, c, "dup.example.com", func(in *sd.CreatePublicDnsNamespaceInput) { in.CreatorRequestId = aws.String("first") })
		_, err := c.CreatePublicDnsNamespace(bg, &sd.CreatePublicDnsNamespaceInput{Name: aws.String("dup.example.com")})
		if e, ok := errAs[*types.NamespaceAlreadyExists](err); ok && (aws.ToString(e.NamespaceId) != id || aws.ToString(e.CreatorRequestId) != "first") {
			t.Errorf("NamespaceAlreadyExists{NamespaceId: %q, CreatorRequestId: %q}; want {%q, first}", aws.ToString(e.NamespaceId), aws.ToString(e.CreatorRequestId), id)
		}
		return err
	}},
	{"CreatePublicDnsNamespace", "ResourceLimitExceeded", func(t *testing.T, c *sd.Client) error {
		createPublicNamespace(t, c, "one.example.com")
		createPublicNamespace(t, c, "two.example.com")
		_, err := c.CreatePublicDnsNamespace(bg, &sd.CreatePublicDnsNamespaceInput{Name: aws.String("three.example.com")})
		return err
	}},
	{"CreatePublicDnsNamespace", "DuplicateRequest", func(t *testing.T, c *sd.Client) error {
		_, op := createPublicNamespace(t, c, "tok.example.com", func(in *sd.CreatePublicDnsNamespaceInput) { in.CreatorRequestId = aws.String("t1") })
		_, err := c.CreatePublicDnsNamespace(bg, &sd.CreatePublicDnsNamespaceInput{Name: aws.String("other.example.com"), CreatorRequestId: aws.String("t1")})
		checkDuplicateOperation(t, err, op)
		return err
	}},
	{"CreatePublicDnsNamespace", "TooManyTagsException", func(t *testing.T, c *sd.Client) error {
		_, err := c.CreatePublicDnsNamespace(bg, &sd.CreatePublicDnsNamespaceInput{Name: aws.String("tags.example.com"), Tags: tagList("k", 51)})
		return err
	}},

	// ---- CreateService ----
	{"CreateService", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		ns, _ := createPrivateNamespace(t, c, "svc.internal", "vpc-1")
		_, err := c.CreateService(bg, &sd.CreateServiceInput{Name: aws.String("cname"), NamespaceId: aws.String(ns),
			DnsConfig: &types.DnsConfig{RoutingPolicy: types.RoutingPolicyMultivalue, DnsRecords: records(60, types.RecordTypeCname)}})
		return err
	}},
	{"CreateService", "ResourceLimitExceeded", func(t *testing.T, c *sd.Client) error {
		ns, _ := createHTTPNamespace(t, c, "full")
		httpService(t, c, ns)
		httpService(t, c, ns)
		_, err := c.CreateService(bg, &sd.CreateServiceInput{Name: aws.String("third"), NamespaceId: aws.String(ns)})
		return err
	}},
	{"CreateService", "NamespaceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.CreateService(bg, &sd.CreateServiceInput{Name: aws.String("orphan"), NamespaceId: aws.String(unknownNS)})
		return err
	}},
	{"CreateService", "ServiceAlreadyExists", func(t *testing.T, c *sd.Client) error {
		ns, _ := createHTTPNamespace(t, c, "svc")
		s := createService(t, c, &sd.CreateServiceInput{Name: aws.String("web"), NamespaceId: aws.String(ns), CreatorRequestId: aws.String("first")})
		_, err := c.CreateService(bg, &sd.CreateServiceInput{Name: aws.String("web"), NamespaceId: aws.String(ns)})
		if e, ok := errAs[*types.ServiceAlreadyExists](err); ok &&
			(aws.ToString(e.ServiceId) != *s.Id || aws.ToString(e.ServiceArn) != *s.Arn || aws.ToString(e.CreatorRequestId) != "first") {
			t.Errorf("ServiceAlreadyExists{ServiceId: %q, ServiceArn: %q, CreatorRequestId: %q}; want {%q, %q, first}",
				aws.ToString(e.ServiceId), aws.ToString(e.ServiceArn), aws.ToString(e.CreatorRequestId), *s.Id, *s.Arn)
		}
		return err
	}},
	{"CreateService", "TooManyTagsException", func(t *testing.T, c *sd.Client) error {
		ns, _ := createHTTPNamespace(t, c, "svc")
		_, err := c.CreateService(bg, &sd.CreateServiceInput{Name: aws.String("tags"), NamespaceId: aws.String(ns), Tags: tagList("k", 51)})
		return err
	}},

	// ---- DeleteNamespace ----
	{"DeleteNamespace", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.DeleteNamespace(bg, &sd.DeleteNamespaceInput{Id: aws.String(strings.Repeat("n", 256))})
		return err
	}},
	{"DeleteNamespace", "NamespaceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.DeleteNamespace(bg, &sd.DeleteNamespaceInput{Id: aws.String(unknownNS)})
		return err
	}},
	{"DeleteNamespace", "ResourceInUse", func(t *testing.T, c *sd.Client) error {
		ns, _ := createHTTPNamespace(t, c, "busy")
		httpService(t, c, ns)
		_, err := c.DeleteNamespace(bg, &sd.DeleteNamespaceInput{Id: aws.String(ns)})
		return err
	}},

	// ---- DeleteService ----
	{"DeleteService", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.DeleteService(bg, &sd.DeleteServiceInput{Id: aws.String(strings.Repeat("s", 256))})
		return err
	}},
	{"DeleteService", "ServiceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.DeleteService(bg, &sd.DeleteServiceInput{Id: aws.String(unknownSvc)})
		return err
	}},
	{"DeleteService", "ResourceInUse", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, false)
		register(t, c, *s.Id, "i", nil)
		_, err := c.DeleteService(bg, &sd.DeleteServiceInput{Id: s.Id})
		return err
	}},

	// ---- DeleteServiceAttributes ----
	{"DeleteServiceAttributes", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, false)
		keys := make([]string, 31)
		for i := range keys {
			keys[i] = "k" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		}
		_, err := c.DeleteServiceAttributes(bg, &sd.DeleteServiceAttributesInput{ServiceId: s.Id, Attributes: keys})
		return err
	}},
	{"DeleteServiceAttributes", "ServiceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.DeleteServiceAttributes(bg, &sd.DeleteServiceAttributesInput{ServiceId: aws.String(unknownSvc), Attributes: []string{"a"}})
		return err
	}},

	// ---- DeregisterInstance ----
	{"DeregisterInstance", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, false)
		_, err := c.DeregisterInstance(bg, &sd.DeregisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String(strings.Repeat("i", 65))})
		return err
	}},
	{"DeregisterInstance", "InstanceNotFound", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, false)
		_, err := c.DeregisterInstance(bg, &sd.DeregisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("nobody")})
		return err
	}},
	{"DeregisterInstance", "ServiceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.DeregisterInstance(bg, &sd.DeregisterInstanceInput{ServiceId: aws.String(unknownSvc), InstanceId: aws.String("i")})
		return err
	}},

	// ---- DiscoverInstances ----
	{"DiscoverInstances", "ServiceNotFound", func(t *testing.T, c *sd.Client) error {
		createHTTPNamespace(t, c, "disc")
		_, err := c.DiscoverInstances(bg, &sd.DiscoverInstancesInput{NamespaceName: aws.String("disc"), ServiceName: aws.String("nothing")})
		return err
	}},
	{"DiscoverInstances", "NamespaceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.DiscoverInstances(bg, &sd.DiscoverInstancesInput{NamespaceName: aws.String("nowhere"), ServiceName: aws.String("web")})
		return err
	}},
	{"DiscoverInstances", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.DiscoverInstances(bg, &sd.DiscoverInstancesInput{NamespaceName: aws.String("n"), ServiceName: aws.String("s"), MaxResults: aws.Int32(1001)})
		return err
	}},

	// ---- DiscoverInstancesRevision ----
	{"DiscoverInstancesRevision", "ServiceNotFound", func(t *testing.T, c *sd.Client) error {
		createHTTPNamespace(t, c, "disc")
		_, err := c.DiscoverInstancesRevision(bg, &sd.DiscoverInstancesRevisionInput{NamespaceName: aws.String("disc"), ServiceName: aws.String("nothing")})
		return err
	}},
	{"DiscoverInstancesRevision", "NamespaceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.DiscoverInstancesRevision(bg, &sd.DiscoverInstancesRevisionInput{NamespaceName: aws.String("nowhere"), ServiceName: aws.String("web")})
		return err
	}},
	{"DiscoverInstancesRevision", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.DiscoverInstancesRevision(bg, &sd.DiscoverInstancesRevisionInput{NamespaceName: aws.String("n"), ServiceName: aws.String("not/a/name")})
		return err
	}},

	// ---- GetInstance ----
	{"GetInstance", "InstanceNotFound", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, false)
		_, err := c.GetInstance(bg, &sd.GetInstanceInput{ServiceId: s.Id, InstanceId: aws.String("nobody")})
		return err
	}},
	{"GetInstance", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.GetInstance(bg, &sd.GetInstanceInput{ServiceId: aws.String(unknownSvc), InstanceId: aws.String(strings.Repeat("i", 65))})
		return err
	}},
	{"GetInstance", "ServiceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.GetInstance(bg, &sd.GetInstanceInput{ServiceId: aws.String(unknownSvc), InstanceId: aws.String("i")})
		return err
	}},

	// ---- GetInstancesHealthStatus ----
	{"GetInstancesHealthStatus", "InstanceNotFound", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, true)
		_, err := c.GetInstancesHealthStatus(bg, &sd.GetInstancesHealthStatusInput{ServiceId: s.Id, Instances: []string{"nobody"}})
		return err
	}},
	{"GetInstancesHealthStatus", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, true)
		_, err := c.GetInstancesHealthStatus(bg, &sd.GetInstancesHealthStatusInput{ServiceId: s.Id, MaxResults: aws.Int32(101)})
		return err
	}},
	{"GetInstancesHealthStatus", "ServiceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.GetInstancesHealthStatus(bg, &sd.GetInstancesHealthStatusInput{ServiceId: aws.String(unknownSvc)})
		return err
	}},

	// ---- GetNamespace ----
	{"GetNamespace", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.GetNamespace(bg, &sd.GetNamespaceInput{Id: aws.String(strings.Repeat("n", 256))})
		return err
	}},
	{"GetNamespace", "NamespaceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.GetNamespace(bg, &sd.GetNamespaceInput{Id: aws.String(unknownNS)})
		return err
	}},

	// ---- GetOperation ----
	{"GetOperation", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.GetOperation(bg, &sd.GetOperationInput{OperationId: aws.String(strings.Repeat("o", 256))})
		return err
	}},
	{"GetOperation", "OperationNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.GetOperation(bg, &sd.GetOperationInput{OperationId: aws.String("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-k9302yzd")})
		return err
	}},

	// ---- GetService ----
	{"GetService", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.GetService(bg, &sd.GetServiceInput{Id: aws.String(strings.Repeat("s", 256))})
		return err
	}},
	{"GetService", "ServiceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.GetService(bg, &sd.GetServiceInput{Id: aws.String(unknownSvc)})
		return err
	}},

	// ---- GetServiceAttributes ----
	{"GetServiceAttributes", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.GetServiceAttributes(bg, &sd.GetServiceAttributesInput{ServiceId: aws.String(strings.Repeat("s", 256))})
		return err
	}},
	{"GetServiceAttributes", "ServiceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.GetServiceAttributes(bg, &sd.GetServiceAttributesInput{ServiceId: aws.String(unknownSvc)})
		return err
	}},

	// ---- ListInstances ----
	{"ListInstances", "ServiceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.ListInstances(bg, &sd.ListInstancesInput{ServiceId: aws.String(unknownSvc)})
		return err
	}},
	{"ListInstances", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, false)
		_, err := c.ListInstances(bg, &sd.ListInstancesInput{ServiceId: s.Id, NextToken: aws.String("garbled")})
		return err
	}},

	// ---- List* ----
	{"ListNamespaces", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.ListNamespaces(bg, &sd.ListNamespacesInput{Filters: []types.NamespaceFilter{{Name: "NAME", Condition: "BETWEEN", Values: []string{"a", "b"}}}})
		return err
	}},
	{"ListOperations", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.ListOperations(bg, &sd.ListOperationsInput{Filters: []types.OperationFilter{{Name: "UPDATE_DATE", Condition: "EQ", Values: []string{"1700000000"}}}})
		return err
	}},
	{"ListServices", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.ListServices(bg, &sd.ListServicesInput{Filters: []types.ServiceFilter{{Name: "NAMESPACE_ID", Condition: "IN", Values: []string{unknownNS}}}})
		return err
	}},

	// ---- tags ----
	{"ListTagsForResource", "ResourceNotFoundException", func(t *testing.T, c *sd.Client) error {
		_, err := c.ListTagsForResource(bg, &sd.ListTagsForResourceInput{ResourceARN: aws.String(nsARN(defaultRegion, defaultAccount, unknownNS))})
		return err
	}},
	{"ListTagsForResource", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.ListTagsForResource(bg, &sd.ListTagsForResourceInput{ResourceARN: aws.String("")})
		return err
	}},
	{"TagResource", "ResourceNotFoundException", func(t *testing.T, c *sd.Client) error {
		_, err := c.TagResource(bg, &sd.TagResourceInput{ResourceARN: aws.String(svcARN(defaultRegion, defaultAccount, unknownSvc)), Tags: tagList("k", 1)})
		return err
	}},
	{"TagResource", "TooManyTagsException", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, false)
		if _, err := c.TagResource(bg, &sd.TagResourceInput{ResourceARN: s.Arn, Tags: tagList("a", 50)}); err != nil {
			t.Fatalf("TagResource with 50 tags = %v", err)
		}
		_, err := c.TagResource(bg, &sd.TagResourceInput{ResourceARN: s.Arn, Tags: tagList("b", 1)})
		if e, ok := errAs[*types.TooManyTagsException](err); ok && aws.ToString(e.ResourceName) != *s.Arn {
			t.Errorf("TooManyTagsException.ResourceName = %q; want %q", aws.ToString(e.ResourceName), *s.Arn)
		}
		return err
	}},
	{"TagResource", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, false)
		_, err := c.TagResource(bg, &sd.TagResourceInput{ResourceARN: s.Arn, Tags: []types.Tag{{Key: aws.String(""), Value: aws.String("v")}}})
		return err
	}},
	{"UntagResource", "ResourceNotFoundException", func(t *testing.T, c *sd.Client) error {
		_, err := c.UntagResource(bg, &sd.UntagResourceInput{ResourceARN: aws.String(nsARN(defaultRegion, defaultAccount, unknownNS)), TagKeys: []string{"k"}})
		return err
	}},
	{"UntagResource", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		_, err := c.UntagResource(bg, &sd.UntagResourceInput{ResourceARN: aws.String(""), TagKeys: []string{"k"}})
		return err
	}},

	// ---- RegisterInstance ----
	{"RegisterInstance", "DuplicateRequest", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, false)
		out, err := c.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("a"), Attributes: map[string]string{}, CreatorRequestId: aws.String("t1")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("b"), Attributes: map[string]string{}, CreatorRequestId: aws.String("t1")})
		checkDuplicateOperation(t, err, *out.OperationId)
		return err
	}},
	{"RegisterInstance", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		ns, _ := createPrivateNamespace(t, c, "reg.internal", "vpc-1")
		s := dnsService(t, c, ns, "", types.RecordTypeA)
		_, err := c.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("no-ip"), Attributes: map[string]string{"k": "v"}})
		return err
	}},
	{"RegisterInstance", "ResourceLimitExceeded", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, false)
		register(t, c, *s.Id, "a", nil)
		register(t, c, *s.Id, "b", nil)
		_, err := c.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("c"), Attributes: map[string]string{}})
		return err
	}},
	{"RegisterInstance", "ServiceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: aws.String(unknownSvc), InstanceId: aws.String("i"), Attributes: map[string]string{}})
		return err
	}},

	// ---- Update*Namespace ----
	{"UpdateHttpNamespace", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		ns, _ := createHTTPNamespace(t, c, "upd")
		_, err := c.UpdateHttpNamespace(bg, &sd.UpdateHttpNamespaceInput{Id: aws.String(ns), Namespace: &types.HttpNamespaceChange{Description: aws.String(strings.Repeat("d", 1025))}})
		return err
	}},
	{"UpdateHttpNamespace", "NamespaceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.UpdateHttpNamespace(bg, &sd.UpdateHttpNamespaceInput{Id: aws.String(unknownNS), Namespace: &types.HttpNamespaceChange{Description: aws.String("d")}})
		return err
	}},
	{"UpdateHttpNamespace", "DuplicateRequest", func(t *testing.T, c *sd.Client) error {
		ns, _ := createHTTPNamespace(t, c, "upd")
		out, err := c.UpdateHttpNamespace(bg, &sd.UpdateHttpNamespaceInput{Id: aws.String(ns), UpdaterRequestId: aws.String("u1"), Namespace: &types.HttpNamespaceChange{Description: aws.String("one")}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.UpdateHttpNamespace(bg, &sd.UpdateHttpNamespaceInput{Id: aws.String(ns), UpdaterRequestId: aws.String("u1"), Namespace: &types.HttpNamespaceChange{Description: aws.String("two")}})
		checkDuplicateOperation(t, err, *out.OperationId)
		return err
	}},
	{"UpdatePrivateDnsNamespace", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		ns, _ := createPrivateNamespace(t, c, "upd.internal", "vpc-1")
		_, err := c.UpdatePrivateDnsNamespace(bg, &sd.UpdatePrivateDnsNamespaceInput{Id: aws.String(ns), Namespace: &types.PrivateDnsNamespaceChange{
			Properties: &types.PrivateDnsNamespacePropertiesChange{DnsProperties: &types.PrivateDnsPropertiesMutableChange{SOA: &types.SOAChange{TTL: aws.Int64(-1)}}}}})
		return err
	}},
	{"UpdatePrivateDnsNamespace", "NamespaceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.UpdatePrivateDnsNamespace(bg, &sd.UpdatePrivateDnsNamespaceInput{Id: aws.String(unknownNS), Namespace: &types.PrivateDnsNamespaceChange{Description: aws.String("d")}})
		return err
	}},
	{"UpdatePrivateDnsNamespace", "DuplicateRequest", func(t *testing.T, c *sd.Client) error {
		ns, _ := createPrivateNamespace(t, c, "upd.internal", "vpc-1")
		out, err := c.UpdatePrivateDnsNamespace(bg, &sd.UpdatePrivateDnsNamespaceInput{Id: aws.String(ns), UpdaterRequestId: aws.String("u1"), Namespace: &types.PrivateDnsNamespaceChange{Description: aws.String("one")}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.UpdatePrivateDnsNamespace(bg, &sd.UpdatePrivateDnsNamespaceInput{Id: aws.String(ns), UpdaterRequestId: aws.String("u1"), Namespace: &types.PrivateDnsNamespaceChange{Description: aws.String("two")}})
		checkDuplicateOperation(t, err, *out.OperationId)
		return err
	}},
	{"UpdatePublicDnsNamespace", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		ns, _ := createPublicNamespace(t, c, "upd.example.com")
		_, err := c.UpdatePublicDnsNamespace(bg, &sd.UpdatePublicDnsNamespaceInput{Id: aws.String(ns), Namespace: &types.PublicDnsNamespaceChange{Description: aws.String(strings.Repeat("d", 1025))}})
		return err
	}},
	{"UpdatePublicDnsNamespace", "NamespaceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.UpdatePublicDnsNamespace(bg, &sd.UpdatePublicDnsNamespaceInput{Id: aws.String(unknownNS), Namespace: &types.PublicDnsNamespaceChange{Description: aws.String("d")}})
		return err
	}},
	{"UpdatePublicDnsNamespace", "DuplicateRequest", func(t *testing.T, c *sd.Client) error {
		ns, _ := createPublicNamespace(t, c, "upd.example.com")
		out, err := c.UpdatePublicDnsNamespace(bg, &sd.UpdatePublicDnsNamespaceInput{Id: aws.String(ns), UpdaterRequestId: aws.String("u1"), Namespace: &types.PublicDnsNamespaceChange{Description: aws.String("one")}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.UpdatePublicDnsNamespace(bg, &sd.UpdatePublicDnsNamespaceInput{Id: aws.String(ns), UpdaterRequestId: aws.String("u1"), Namespace: &types.PublicDnsNamespaceChange{Description: aws.String("two")}})
		checkDuplicateOperation(t, err, *out.OperationId)
		return err
	}},

	// ---- UpdateInstanceCustomHealthStatus ----
	{"UpdateInstanceCustomHealthStatus", "InstanceNotFound", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, true)
		_, err := c.UpdateInstanceCustomHealthStatus(bg, &sd.UpdateInstanceCustomHealthStatusInput{ServiceId: s.Id, InstanceId: aws.String("nobody"), Status: types.CustomHealthStatusHealthy})
		return err
	}},
	{"UpdateInstanceCustomHealthStatus", "ServiceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.UpdateInstanceCustomHealthStatus(bg, &sd.UpdateInstanceCustomHealthStatusInput{ServiceId: aws.String(unknownSvc), InstanceId: aws.String("i"), Status: types.CustomHealthStatusHealthy})
		return err
	}},
	{"UpdateInstanceCustomHealthStatus", "CustomHealthNotFound", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, false)
		register(t, c, *s.Id, "i", nil)
		_, err := c.UpdateInstanceCustomHealthStatus(bg, &sd.UpdateInstanceCustomHealthStatusInput{ServiceId: s.Id, InstanceId: aws.String("i"), Status: types.CustomHealthStatusHealthy})
		return err
	}},
	{"UpdateInstanceCustomHealthStatus", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, true)
		register(t, c, *s.Id, "i", nil)
		_, err := c.UpdateInstanceCustomHealthStatus(bg, &sd.UpdateInstanceCustomHealthStatusInput{ServiceId: s.Id, InstanceId: aws.String("i"), Status: "MAYBE"})
		return err
	}},

	// ---- UpdateService ----
	{"UpdateService", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		ns, _ := createPrivateNamespace(t, c, "us.internal", "vpc-1")
		s := dnsService(t, c, ns, "", types.RecordTypeA)
		_, err := c.UpdateService(bg, &sd.UpdateServiceInput{Id: s.Id, Service: &types.ServiceChange{DnsConfig: &types.DnsConfigChange{
			DnsRecords: records(60, types.RecordTypeA, types.RecordTypeSrv)}}})
		return err
	}},
	{"UpdateService", "ServiceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.UpdateService(bg, &sd.UpdateServiceInput{Id: aws.String(unknownSvc), Service: &types.ServiceChange{Description: aws.String("d")}})
		return err
	}},

	// ---- UpdateServiceAttributes ----
	{"UpdateServiceAttributes", "InvalidInput", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, false)
		_, err := c.UpdateServiceAttributes(bg, &sd.UpdateServiceAttributesInput{ServiceId: s.Id, Attributes: map[string]string{}})
		return err
	}},
	{"UpdateServiceAttributes", "ServiceNotFound", func(t *testing.T, c *sd.Client) error {
		_, err := c.UpdateServiceAttributes(bg, &sd.UpdateServiceAttributesInput{ServiceId: aws.String(unknownSvc), Attributes: map[string]string{"a": "b"}})
		return err
	}},
	{"UpdateServiceAttributes", "ServiceAttributesLimitExceededException", func(t *testing.T, c *sd.Client) error {
		s := errFixtureService(t, c, false)
		attrs := map[string]string{}
		for _, tg := range tagList("a", 30) {
			attrs[*tg.Key] = "v"
		}
		if _, err := c.UpdateServiceAttributes(bg, &sd.UpdateServiceAttributesInput{ServiceId: s.Id, Attributes: attrs}); err != nil {
			t.Fatalf("UpdateServiceAttributes with 30 = %v", err)
		}
		_, err := c.UpdateServiceAttributes(bg, &sd.UpdateServiceAttributesInput{ServiceId: s.Id, Attributes: map[string]string{"b": "v"}})
		return err
	}},
}

// errFixtureService creates an HTTP namespace and a service in it, with
// custom health if asked.
func errFixtureService(t *testing.T, c *sd.Client, custom bool) *types.Service {
	t.Helper()
	ns, _ := createHTTPNamespace(t, c, uniq("fx"))
	return httpService(t, c, ns, func(in *sd.CreateServiceInput) {
		if custom {
			in.HealthCheckCustomConfig = &types.HealthCheckCustomConfig{}
		}
	})
}

// checkDuplicateOperation checks DuplicateRequest.DuplicateOperationId.
func checkDuplicateOperation(t *testing.T, err error, opID string) {
	t.Helper()
	if e, ok := errAs[*types.DuplicateRequest](err); ok && aws.ToString(e.DuplicateOperationId) != opID {
		t.Errorf("DuplicateRequest.DuplicateOperationId = %q; want %q", aws.ToString(e.DuplicateOperationId), opID)
	}
}

// TestModeledErrors produces every modeled error mapmesh returns, through
// the SDK: the error decodes into the SDK's typed error, with HTTP status
// 400 and a request ID.
func TestModeledErrors(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{Quotas: smallQuotas})
	for _, tc := range errorCases {
		t.Run(tc.op+"/"+tc.code, func(t *testing.T) {
			t.Parallel()
			err := tc.run(t, h.account())
			apiError(t, err, tc.code)
		})
	}
}

// TestErrorMatrixComplete fails when errorMatrix misses an (operation,
// modeled error) pair of the model, names one the model does not have, or
// names a test that does not exist.
func TestErrorMatrixComplete(t *testing.T) {
	t.Parallel()
	if len(operations) != 30 {
		t.Errorf("operations lists %d; the API has 30", len(operations))
	}
	tests := testFunctions(t)
	cases := map[string]bool{}
	for _, c := range errorCases {
		key := c.op + "/" + c.code
		if cases[key] {
			t.Errorf("errorCases has %s twice", key)
		}
		cases[key] = true
		if !slices.Contains(cloudmap.ModeledErrors(c.op), c.code) {
			t.Errorf("errorCases has %s, which the model does not declare", key)
		}
		if !strings.Contains(errorMatrix[c.op][c.code], "TestModeledErrors/"+key) {
			t.Errorf("errorMatrix[%s][%s] does not name TestModeledErrors/%s", c.op, c.code, key)
		}
	}
	for _, op := range operations {
		modeled := cloudmap.ModeledErrors(op)
		if len(modeled) == 0 {
			t.Errorf("cloudmap.ModeledErrors(%q) is empty", op)
		}
		row, ok := errorMatrix[op]
		if !ok {
			t.Errorf("errorMatrix has no row for %s", op)
			continue
		}
		for _, code := range modeled {
			entry, ok := row[code]
			switch {
			case !ok:
				t.Errorf("errorMatrix[%s] misses the modeled error %s", op, code)
			case strings.HasPrefix(entry, "never: "):
				if len(strings.TrimPrefix(entry, "never: ")) < 20 {
					t.Errorf("errorMatrix[%s][%s]: the reason %q explains nothing", op, code, entry)
				}
				if cases[op+"/"+code] {
					t.Errorf("errorMatrix[%s][%s] says never, but errorCases produces it", op, code)
				}
			default:
				for _, ref := range strings.Split(entry, ", ") {
					top, sub, _ := strings.Cut(ref, "/")
					if !tests[top] {
						t.Errorf("errorMatrix[%s][%s] names %s, which is not a test of this package", op, code, top)
					}
					if top == "TestModeledErrors" && !cases[sub] {
						t.Errorf("errorMatrix[%s][%s] names %s, which errorCases lacks", op, code, ref)
					}
				}
			}
		}
		for code := range row {
			if !slices.Contains(modeled, code) {
				t.Errorf("errorMatrix[%s] has %s, which the model does not declare for it", op, code)
			}
		}
	}
	for op := range errorMatrix {
		if !slices.Contains(operations, op) {
			t.Errorf("errorMatrix has a row for %s, which is not an operation", op)
		}
	}
	var ops []string
	for op := range errorMatrix {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	n, never := 0, 0
	for _, op := range ops {
		for _, e := range errorMatrix[op] {
			n++
			if strings.HasPrefix(e, "never: ") {
				never++
			}
		}
	}
	t.Logf("%d (operation, error) pairs: %d produced by tests, %d never returned by mapmesh", n, n-never, never)
}

// testFunctions returns the names of this package's top-level Test
// functions, read from its source.
func testFunctions(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files found (%v)", err)
	}
	out := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
				out[fn.Name.Name] = true
			}
		}
	}
	return out
}
