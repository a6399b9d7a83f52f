package cloudmap

import "github.com/mapmesh/mapmesh/internal/awsapi"

// TargetPrefix is the X-Amz-Target prefix of the Cloud Map API.
const TargetPrefix = "Route53AutoNaming_v20170314"

// API returns the Cloud Map API as an AWS JSON 1.1 service: the
// operation table, from wire name to method.
func (b *Backend) API() *awsapi.JSONService {
	return &awsapi.JSONService{
		TargetPrefix:   TargetPrefix,
		ValidationCode: "InvalidInput",
		// Cloud Map's model has no error for a temporary failure:
		// ServiceUnavailable (503) and ThrottlingException (400) are the
		// common errors AWS's JSON services answer with.
		Faults: awsapi.Faults{Unavailable: "ServiceUnavailable", Throttled: "ThrottlingException", TooLarge: "InvalidInput"},
		Operations: map[string]awsapi.Operation{
			"CreateHttpNamespace":              awsapi.Op(b.CreateHttpNamespace),
			"CreatePrivateDnsNamespace":        awsapi.Op(b.CreatePrivateDnsNamespace),
			"CreatePublicDnsNamespace":         awsapi.Op(b.CreatePublicDnsNamespace),
			"CreateService":                    awsapi.Op(b.CreateService),
			"DeleteNamespace":                  awsapi.Op(b.DeleteNamespace),
			"DeleteService":                    awsapi.Op(b.DeleteService),
			"DeleteServiceAttributes":          awsapi.Op(b.DeleteServiceAttributes),
			"DeregisterInstance":               awsapi.Op(b.DeregisterInstance),
			"DiscoverInstances":                awsapi.Op(b.DiscoverInstances),
			"DiscoverInstancesRevision":        awsapi.Op(b.DiscoverInstancesRevision),
			"GetInstance":                      awsapi.Op(b.GetInstance),
			"GetInstancesHealthStatus":         awsapi.Op(b.GetInstancesHealthStatus),
			"GetNamespace":                     awsapi.Op(b.GetNamespace),
			"GetOperation":                     awsapi.Op(b.GetOperation),
			"GetService":                       awsapi.Op(b.GetService),
			"GetServiceAttributes":             awsapi.Op(b.GetServiceAttributes),
			"ListInstances":                    awsapi.Op(b.ListInstances),
			"ListNamespaces":                   awsapi.Op(b.ListNamespaces),
			"ListOperations":                   awsapi.Op(b.ListOperations),
			"ListServices":                     awsapi.Op(b.ListServices),
			"ListTagsForResource":              awsapi.Op(b.ListTagsForResource),
			"RegisterInstance":                 awsapi.Op(b.RegisterInstance),
			"TagResource":                      awsapi.Op(b.TagResource),
			"UntagResource":                    awsapi.Op(b.UntagResource),
			"UpdateHttpNamespace":              awsapi.Op(b.UpdateHttpNamespace),
			"UpdateInstanceCustomHealthStatus": awsapi.Op(b.UpdateInstanceCustomHealthStatus),
			"UpdatePrivateDnsNamespace":        awsapi.Op(b.UpdatePrivateDnsNamespace),
			"UpdatePublicDnsNamespace":         awsapi.Op(b.UpdatePublicDnsNamespace),
			"UpdateService":                    awsapi.Op(b.UpdateService),
			"UpdateServiceAttributes":          awsapi.Op(b.UpdateServiceAttributes),
		},
	}
}

// ModeledErrors returns the error codes the model declares for an operation.
func ModeledErrors(op string) []string { return modeledErrors[op] }
