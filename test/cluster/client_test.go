//go:build etcd

package cluster

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/smithy-go"
)

// callTimeout bounds every API call: a server answers in milliseconds, or
// within --etcd-request-timeout with a retryable error when etcd does not
// answer. A call still unanswered after this hung.
const callTimeout = 10 * time.Second

// clients returns a Cloud Map and an App Mesh client for p. They dial p's
// API address whatever host a request names (DiscoverInstances goes to
// "data-" + host) and retry nothing: every answer is seen as the server
// gave it.
func (p *proc) clients() (*sd.Client, *am.Client) {
	addr := p.apiAddr
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	p.t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: plainBodies{tr}}
	creds := credentials.NewStaticCredentialsProvider("AKIDCLUSTER", "secret", "")
	return sd.New(sd.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.url), Credentials: creds, HTTPClient: hc, Retryer: aws.NopRetryer{}}),
		am.New(am.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.url), Credentials: creds, HTTPClient: hc, Retryer: aws.NopRetryer{}})
}

// plainBodies hides the WriteTo of smithy-go's request bodies (see
// test/conformance/client_test.go: aws/aws-sdk-go-v2#2737).
type plainBodies struct{ next http.RoundTripper }

func (rt plainBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = plainBody{r.Body}
	}
	return rt.next.RoundTrip(r)
}

type plainBody struct{ io.ReadCloser }

// errorCode returns the AWS error code of err, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatus returns the HTTP status of an API error, or 0.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// retryable reports whether err is the answer of a server that cannot
// reach its store: HTTP 503 with the service's unavailable code, which the
// AWS SDKs retry.
func retryable(err error) bool {
	code := errorCode(err)
	return httpStatus(err) == http.StatusServiceUnavailable && (code == "ServiceUnavailable" || code == "ServiceUnavailableException")
}

// hung reports whether err is a call that got no answer within its bound.
func hung(err error) bool { return errors.Is(err, context.DeadlineExceeded) }

// must runs one call with a deadline and stops the test on error.
func must(t testing.TB, what string, f func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		if hung(err) {
			t.Fatalf("%s hung: no answer within %v", what, callTimeout)
		}
		t.Fatalf("%s: %v", what, err)
	}
}

// call runs f with a deadline of callTimeout.
func call(f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	return f(ctx)
}

// eventually calls f until it returns nil or timeout passes, and returns
// how long that took and f's last error.
func eventually(timeout time.Duration, f func() error) (time.Duration, error) {
	start := time.Now()
	for {
		err := f()
		if err == nil || time.Since(start) > timeout {
			return time.Since(start), err
		}
		time.Sleep(5 * time.Millisecond)
	}
}
