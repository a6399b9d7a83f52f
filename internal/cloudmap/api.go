package cloudmap

import "github.com/mapmesh/mapmesh/internal/awsapi"

// TargetPrefix is the X-Amz-Target prefix of the Cloud Map API.
const TargetPrefix = "Route53AutoNaming_v20170314"

// SigningName is the service name of Cloud Map's SigV4 credential scopes.
const SigningName = "servicediscovery"

// Throttle returns AWS's request rates for Cloud Map, per account and
// region: DiscoverInstances 1,000 a second with bursts of 2,000, and
// DiscoverInstancesRevision 3,000 a second, both refused with
// RequestLimitExceeded (the Cloud Map Developer Guide, "API request
// throttling"). AWS publishes no rate for the other operations; mapmesh
// allows each 100 a second with bursts of 200 and refuses the excess with
// ThrottlingException, the common error AWS's control planes answer with.
func Throttle() *awsapi.Throttle {
	limited := awsapi.Error{Code: "RequestLimitExceeded",
		Message: "The operation can't be completed because you've reached the quota for the number of requests."}
	return &awsapi.Throttle{
		Rates: map[string]awsapi.Rate{
			"DiscoverInstances":         {PerSecond: 1000, Burst: 2000},
			"DiscoverInstancesRevision": {PerSecond: 3000, Burst: 3000},
		},
		Default:  awsapi.Rate{PerSecond: 100, Burst: 200},
		Refusal:  awsapi.Error{Code: "ThrottlingException", Message: "Rate exceeded"},
		Refusals: map[string]awsapi.Error{"DiscoverInstances": limited, "DiscoverInstancesRevision": limited},
	}
}

// API returns the Cloud Map API as an AWS JSON 1.1 service: the
// operation table, from wire name to method.
func (b *Backend) API() *awsapi.JSONService {
	return &awsapi.JSONService{
		TargetPrefix:   TargetPrefix,
		ValidationCode: "InvalidInput",
		// Cloud Map's model has no error for a temporary failure:
		// ServiceUnavailable (503) and ThrottlingException (400) are the
		// common errors AWS's JSON services answer with.
		Faults:      awsapi.Faults{Unavailable: "ServiceUnavailable", Throttled: "ThrottlingException", TooLarge: "InvalidInput"},
		SigningName: SigningName,
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
