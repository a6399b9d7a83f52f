package sdk_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/net/http/httpproxy"
)

// TestHTTPProxy: with HTTP_PROXY naming mapmesh, data-<host> need not
// resolve: the client sends the whole URL (http://data-<host>:PORT/) to the
// proxy, mapmesh, which serves it whatever the host. net/http applies
// HTTP_PROXY by golang.org/x/net/http/httpproxy's rules, used here as they
// are: requests to "localhost" and to loopback addresses go direct, but
// data-localhost and data-127.0.0.1 are neither, so DiscoverInstances goes
// through the proxy whatever the endpoint.
func TestHTTPProxy(t *testing.T) {
	proxy := (&httpproxy.Config{HTTPProxy: endpoint}).ProxyFunc()
	client := &http.Client{Transport: &http.Transport{Proxy: func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }}}
	for _, host := range []string{"mapmesh.invalid", "localhost", "127.0.0.1"} {
		t.Run(host, func(t *testing.T) {
			var l hostLog
			sd := servicediscovery.New(servicediscovery.Options{
				BaseEndpoint: aws.String("http://" + host + ":" + apiPort),
				Region:       "us-east-1",
				Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
				HTTPClient:   client,
				APIOptions:   []func(*middleware.Stack) error{l.option},
				Retryer:      aws.NopRetryer{},
			})
			ns := register(context.Background(), sd, nextName("go-proxy"))
			out, err := sd.DiscoverInstances(context.Background(), &servicediscovery.DiscoverInstancesInput{NamespaceName: aws.String(ns), ServiceName: aws.String("web")})
			if err != nil || len(out.Instances) != 1 {
				t.Fatalf("DiscoverInstances via http://%s with HTTP_PROXY = %v; want web-1", host, err)
			}
			if got := l.get("DiscoverInstances"); got != "data-"+host {
				t.Errorf("DiscoverInstances went to %q; want data-%s", got, host)
			}
		})
	}
}
