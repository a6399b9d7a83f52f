package sdk_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// disableHostPrefix is the client option for the data- host prefix: it
// marks every operation so the SDK sends it to the endpoint as given.
// (AWS_DISABLE_HOST_PREFIX_INJECTION and disable_host_prefix_injection
// are not read by the Go SDK.) With config.LoadDefaultConfig, pass it as
// config.WithAPIOptions([]func(*middleware.Stack) error{disableHostPrefix}).
func disableHostPrefix(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("DisableHostPrefix",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
		}), middleware.Before)
}

// The documented option: DiscoverInstances goes to http://127.0.0.1:PORT
// itself, not to data-127.0.0.1.
func Example_disableHostPrefix() {
	ctx := context.Background()
	sd := servicediscovery.New(servicediscovery.Options{
		BaseEndpoint: aws.String(endpoint), // e.g. http://127.0.0.1:9711
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		APIOptions:   []func(*middleware.Stack) error{disableHostPrefix},
	})
	ns := register(ctx, sd, nextName("go-option"))
	out, err := sd.DiscoverInstances(ctx, &servicediscovery.DiscoverInstancesInput{NamespaceName: aws.String(ns), ServiceName: aws.String("web")})
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range out.Instances {
		fmt.Println(*in.InstanceId, in.Attributes["AWS_INSTANCE_IPV4"]+":"+in.Attributes["AWS_INSTANCE_PORT"])
	}
	rev, err := sd.DiscoverInstancesRevision(ctx, &servicediscovery.DiscoverInstancesRevisionInput{NamespaceName: aws.String(ns), ServiceName: aws.String("web")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("revision known:", *rev.InstancesRevision > 0)
	// Output:
	// web-1 10.0.0.1:8080
	// revision known: true
}

// No client option: the endpoint is http://mapmesh.internal:PORT, and
// mapmesh, started with --dns-self-name mapmesh.internal, answers both
// mapmesh.internal and data-mapmesh.internal (where the SDK sends
// DiscoverInstances). Here the dialer asks mapmesh's DNS directly; a
// machine whose resolver forwards mapmesh.internal to mapmesh needs no
// HTTPClient at all (TestSystemResolver).
func Example_dnsSelfName() {
	ctx := context.Background()
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, dnsAddr) // mapmesh's DNS
	}}
	httpClient := awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) { d.Resolver = resolver })
	sd := servicediscovery.New(servicediscovery.Options{
		BaseEndpoint: aws.String("http://mapmesh.internal:" + apiPort),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:   httpClient,
	})
	ns := register(ctx, sd, nextName("go-selfname"))
	out, err := sd.DiscoverInstances(ctx, &servicediscovery.DiscoverInstancesInput{NamespaceName: aws.String(ns), ServiceName: aws.String("web")})
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range out.Instances {
		fmt.Println(*in.InstanceId, in.Attributes["AWS_INSTANCE_IPV4"]+":"+in.Attributes["AWS_INSTANCE_PORT"])
	}
	// Output:
	// web-1 10.0.0.1:8080
}

// App Mesh operations have no host prefix: any endpoint form works as is.
func Example_appMesh() {
	ctx := context.Background()
	am := appmesh.New(appmesh.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	})
	mesh := nextName("go-mesh")
	if _, err := am.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: aws.String(mesh)}); err != nil {
		log.Fatal(err)
	}
	spec := func(port int32) *amtypes.VirtualNodeSpec {
		return &amtypes.VirtualNodeSpec{
			Listeners:        []amtypes.Listener{{PortMapping: &amtypes.PortMapping{Port: aws.Int32(port), Protocol: amtypes.PortProtocolHttp}}},
			ServiceDiscovery: &amtypes.ServiceDiscoveryMemberDns{Value: amtypes.DnsServiceDiscovery{Hostname: aws.String("web.shop.local")}},
		}
	}
	if _, err := am.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: aws.String(mesh), VirtualNodeName: aws.String("web"), Spec: spec(8080)}); err != nil {
		log.Fatal(err)
	}
	up, err := am.UpdateVirtualNode(ctx, &appmesh.UpdateVirtualNodeInput{MeshName: aws.String(mesh), VirtualNodeName: aws.String("web"), Spec: spec(9090)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version", *up.VirtualNode.Metadata.Version, "port", *up.VirtualNode.Spec.Listeners[0].PortMapping.Port)
	// Output:
	// version 2 port 9090
}

var names atomic.Int64

// nextName returns a name no other call returns.
func nextName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, names.Add(1))
}

// register makes an HTTP namespace named ns with a service "web" and one
// instance, and returns ns.
func register(ctx context.Context, sd *servicediscovery.Client, ns string) string {
	op, err := sd.CreateHttpNamespace(ctx, &servicediscovery.CreateHttpNamespaceInput{Name: aws.String(ns)})
	if err != nil {
		log.Fatal(err)
	}
	got, err := sd.GetOperation(ctx, &servicediscovery.GetOperationInput{OperationId: op.OperationId})
	if err != nil {
		log.Fatal(err)
	}
	svc, err := sd.CreateService(ctx, &servicediscovery.CreateServiceInput{Name: aws.String("web"), NamespaceId: aws.String(got.Operation.Targets["NAMESPACE"])})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := sd.RegisterInstance(ctx, &servicediscovery.RegisterInstanceInput{ServiceId: svc.Service.Id, InstanceId: aws.String("web-1"),
		Attributes: map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "8080"}}); err != nil {
		log.Fatal(err)
	}
	return ns
}
