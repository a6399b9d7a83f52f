package appmesh

import "github.com/mapmesh/mapmesh/internal/awsapi"

// SigningName is the service name of App Mesh's SigV4 credential scopes.
const SigningName = "appmesh"

// Throttle returns the request rates of App Mesh, per account, region and
// operation. AWS publishes none; mapmesh allows each operation 100 a
// second with bursts of 200 and refuses the excess with
// TooManyRequestsException (429), App Mesh's modeled throttling error.
func Throttle() *awsapi.Throttle {
	return &awsapi.Throttle{
		Default: awsapi.Rate{PerSecond: 100, Burst: 200},
		Refusal: awsapi.Error{Code: "TooManyRequestsException", Status: 429, Message: "Rate exceeded"},
	}
}

// faults are App Mesh's modeled errors for store and request failures.
var faults = awsapi.Faults{Unavailable: "ServiceUnavailableException", Throttled: "TooManyRequestsException",
	ThrottledStatus: 429, TooLarge: "LimitExceededException"}

// API returns the App Mesh API in both versions as rest-json services:
// 2019-01-25 (paths under /v20190125) and 2018-10-01 (paths under
// /meshes). Each is an operation table, from wire name to method; the
// routes (method, path, status) and error statuses are generated from the
// models.
func (b *Backend) API() []*awsapi.RESTService {
	return []*awsapi.RESTService{b.api2019(), b.api2018()}
}

func (b *Backend) api2019() *awsapi.RESTService {
	return &awsapi.RESTService{
		Name:              "appmesh 2019-01-25",
		ValidationCode:    codeBadRequest,
		InternalErrorCode: "InternalServerErrorException",
		ErrorStatus:       errorStatus,
		Routes:            restRoutes,
		Faults:            faults,
		SigningName:       SigningName,
		Operations: map[string]awsapi.Operation{
			"CreateGatewayRoute":     awsapi.Op(b.CreateGatewayRoute),
			"CreateMesh":             awsapi.Op(b.CreateMesh),
			"CreateRoute":            awsapi.Op(b.CreateRoute),
			"CreateVirtualGateway":   awsapi.Op(b.CreateVirtualGateway),
			"CreateVirtualNode":      awsapi.Op(b.CreateVirtualNode),
			"CreateVirtualRouter":    awsapi.Op(b.CreateVirtualRouter),
			"CreateVirtualService":   awsapi.Op(b.CreateVirtualService),
			"DeleteGatewayRoute":     awsapi.Op(b.DeleteGatewayRoute),
			"DeleteMesh":             awsapi.Op(b.DeleteMesh),
			"DeleteRoute":            awsapi.Op(b.DeleteRoute),
			"DeleteVirtualGateway":   awsapi.Op(b.DeleteVirtualGateway),
			"DeleteVirtualNode":      awsapi.Op(b.DeleteVirtualNode),
			"DeleteVirtualRouter":    awsapi.Op(b.DeleteVirtualRouter),
			"DeleteVirtualService":   awsapi.Op(b.DeleteVirtualService),
			"DescribeGatewayRoute":   awsapi.Op(b.DescribeGatewayRoute),
			"DescribeMesh":           awsapi.Op(b.DescribeMesh),
			"DescribeRoute":          awsapi.Op(b.DescribeRoute),
			"DescribeVirtualGateway": awsapi.Op(b.DescribeVirtualGateway),
			"DescribeVirtualNode":    awsapi.Op(b.DescribeVirtualNode),
			"DescribeVirtualRouter":  awsapi.Op(b.DescribeVirtualRouter),
			"DescribeVirtualService": awsapi.Op(b.DescribeVirtualService),
			"ListGatewayRoutes":      awsapi.Op(b.ListGatewayRoutes),
			"ListMeshes":             awsapi.Op(b.ListMeshes),
			"ListRoutes":             awsapi.Op(b.ListRoutes),
			"ListTagsForResource":    awsapi.Op(b.ListTagsForResource),
			"ListVirtualGateways":    awsapi.Op(b.ListVirtualGateways),
			"ListVirtualNodes":       awsapi.Op(b.ListVirtualNodes),
			"ListVirtualRouters":     awsapi.Op(b.ListVirtualRouters),
			"ListVirtualServices":    awsapi.Op(b.ListVirtualServices),
			"TagResource":            awsapi.Op(b.TagResource),
			"UntagResource":          awsapi.Op(b.UntagResource),
			"UpdateGatewayRoute":     awsapi.Op(b.UpdateGatewayRoute),
			"UpdateMesh":             awsapi.Op(b.UpdateMesh),
			"UpdateRoute":            awsapi.Op(b.UpdateRoute),
			"UpdateVirtualGateway":   awsapi.Op(b.UpdateVirtualGateway),
			"UpdateVirtualNode":      awsapi.Op(b.UpdateVirtualNode),
			"UpdateVirtualRouter":    awsapi.Op(b.UpdateVirtualRouter),
			"UpdateVirtualService":   awsapi.Op(b.UpdateVirtualService),
		},
	}
}

func (b *Backend) api2018() *awsapi.RESTService {
	return &awsapi.RESTService{
		Name:              "appmesh 2018-10-01",
		ValidationCode:    codeBadRequest,
		InternalErrorCode: "InternalServerErrorException",
		ErrorStatus:       errorStatus2018,
		Routes:            restRoutes2018,
		Faults:            faults,
		SigningName:       SigningName,
		Operations: map[string]awsapi.Operation{
			"CreateMesh":            awsapi.Op(b.CreateMesh2018),
			"CreateRoute":           awsapi.Op(b.CreateRoute2018),
			"CreateVirtualNode":     awsapi.Op(b.CreateVirtualNode2018),
			"CreateVirtualRouter":   awsapi.Op(b.CreateVirtualRouter2018),
			"DeleteMesh":            awsapi.Op(b.DeleteMesh2018),
			"DeleteRoute":           awsapi.Op(b.DeleteRoute2018),
			"DeleteVirtualNode":     awsapi.Op(b.DeleteVirtualNode2018),
			"DeleteVirtualRouter":   awsapi.Op(b.DeleteVirtualRouter2018),
			"DescribeMesh":          awsapi.Op(b.DescribeMesh2018),
			"DescribeRoute":         awsapi.Op(b.DescribeRoute2018),
			"DescribeVirtualNode":   awsapi.Op(b.DescribeVirtualNode2018),
			"DescribeVirtualRouter": awsapi.Op(b.DescribeVirtualRouter2018),
			"ListMeshes":            awsapi.Op(b.ListMeshes2018),
			"ListRoutes":            awsapi.Op(b.ListRoutes2018),
			"ListVirtualNodes":      awsapi.Op(b.ListVirtualNodes2018),
			"ListVirtualRouters":    awsapi.Op(b.ListVirtualRouters2018),
			"UpdateRoute":           awsapi.Op(b.UpdateRoute2018),
			"UpdateVirtualNode":     awsapi.Op(b.UpdateVirtualNode2018),
			"UpdateVirtualRouter":   awsapi.Op(b.UpdateVirtualRouter2018),
		},
	}
}

// ModeledErrors returns the error codes the 2019-01-25 model declares for
// an operation.
func ModeledErrors(op string) []string { return modeledErrors[op] }

// ModeledErrors2018 returns the error codes the 2018-10-01 model declares
// for an operation.
func ModeledErrors2018(op string) []string { return modeledErrors2018[op] }
