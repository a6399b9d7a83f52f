//go:build e2e

package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/smithy-go"
)

// callTimeout bounds every API call. A healthy server answers in
// milliseconds; a call still unanswered after this is reported as hung.
const callTimeout = 15 * time.Second

// clients returns a Cloud Map and an App Mesh client for p, sharing one
// transport that dials p's API address whatever host a request names:
// DiscoverInstances goes to "data-" + host (the model's host prefix),
// which reaches the same server this way. Nothing is retried by the SDK:
// every answer is observed as the server gave it (see ledger.do).
func (p *proc) clients() (*sd.Client, *am.Client) { return p.clientsWith(64) }

// clientsWith is clients with a transport that keeps up to maxIdle
// connections open.
func (p *proc) clientsWith(maxIdle int) (*sd.Client, *am.Client) {
	addr := p.apiAddr
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: maxIdle,
		IdleConnTimeout:     30 * time.Second,
	}
	p.t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: plainBodies{tr}}
	creds := credentials.NewStaticCredentialsProvider("AKIDSYSTEM", "secret", "")
	return sd.New(sd.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.url), Credentials: creds, HTTPClient: hc, Retryer: aws.NopRetryer{}}),
		am.New(am.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.url), Credentials: creds, HTTPClient: hc, Retryer: aws.NopRetryer{}})
}

// plainBodies hides the WriteTo of smithy-go's request bodies: the SDK
// closes a body as soon as the response arrives, and net/http's write loop
// may still be copying it; the failed copy makes the transport close the
// connection under the response ("use of closed network connection",
// aws/aws-sdk-go-v2#2737). See test/conformance/client_test.go.
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

// throttled reports whether err asks the client to retry later.
func throttled(err error) bool {
	switch errorCode(err) {
	case "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded":
		return true
	}
	return false
}

// errFailed marks an outcome the ledger recorded as a failure.
var errFailed = errors.New("call failed")

// ledger runs API calls with a deadline and accounts for every outcome:
// answered, an expected modeled error, throttled (retried), or a failure
// (hung, 5xx, an unexpected error).
type ledger struct {
	// dying is set just before the test kills the server: from then on a
	// call that fails for want of a server is in flight, not a failure.
	dying atomic.Bool

	mu        sync.Mutex // guards the fields below
	inflight  map[int64]inflightCall
	nextCall  int64
	ok        map[string]int
	expected  map[string]int // by op and code
	throttles map[string]int
	failed    map[string]int // by kind: "hung", "5xx", "unexpected", "transport"
	failures  []string       // the first messages
	firstFail time.Time
}

// inflightCall is a call sent and not answered yet.
type inflightCall struct {
	op    string
	start time.Time
}

func newLedger() *ledger {
	return &ledger{inflight: map[int64]inflightCall{}, ok: map[string]int{}, expected: map[string]int{}, throttles: map[string]int{}, failed: map[string]int{}}
}

// do calls f with a deadline of callTimeout, retrying throttling errors
// (with backoff, up to 30 times). It returns nil, an error whose code is
// one of expected, context.Canceled when ctx ended, or an error wrapping
// errFailed, which the ledger recorded.
func (l *ledger) do(ctx context.Context, op string, f func(ctx context.Context) error, expected ...string) error {
	backoff := 5 * time.Millisecond
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		start := time.Now()
		l.mu.Lock()
		id := l.nextCall
		l.nextCall++
		l.inflight[id] = inflightCall{op, start}
		l.mu.Unlock()
		err := f(cctx)
		cancel()
		l.mu.Lock()
		delete(l.inflight, id)
		l.mu.Unlock()
		if err == nil {
			l.count(l.ok, op)
			return nil
		}
		if ctx.Err() != nil {
			return context.Canceled
		}
		code := errorCode(err)
		switch {
		case errors.Is(err, context.DeadlineExceeded) && time.Since(start) >= callTimeout-time.Second:
			return l.fail("hung", "%s hung: no answer within %v", op, callTimeout)
		case throttled(err) && attempt < 30:
			l.count(l.throttles, op+" "+code)
			time.Sleep(backoff)
			backoff = min(2*backoff, 500*time.Millisecond)
			continue
		case l.dying.Load() && code == "":
			return fmt.Errorf("%s in flight when the server was killed: %w", op, err)
		case code == "":
			return l.fail("transport", "%s: %v", op, err)
		case httpStatus(err) >= 500:
			return l.fail("5xx", "%s: HTTP %d %s: %v", op, httpStatus(err), code, err)
		}
		for _, e := range expected {
			if code == e {
				l.count(l.expected, op+" "+code)
				return err
			}
		}
		return l.fail("unexpected", "%s: unexpected error %s (HTTP %d): %v", op, code, httpStatus(err), err)
	}
}

func (l *ledger) count(m map[string]int, k string) {
	l.mu.Lock()
	m[k]++
	l.mu.Unlock()
}

func (l *ledger) fail(kind, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed[kind]++
	if l.firstFail.IsZero() {
		l.firstFail = time.Now()
	}
	if len(l.failures) < 20 {
		l.failures = append(l.failures, msg)
	}
	return fmt.Errorf("%s: %w", msg, errFailed)
}

// oldest returns the call in flight for the longest time, if any.
func (l *ledger) oldest() (string, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var op string
	var age time.Duration
	for _, c := range l.inflight {
		if d := time.Since(c.start); d > age {
			op, age = c.op, d
		}
	}
	return op, age
}

// failedCount returns how many calls failed.
func (l *ledger) failedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, v := range l.failed {
		n += v
	}
	return n
}

// summary describes the outcomes.
func (l *ledger) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	total := 0
	for _, v := range l.ok {
		total += v
	}
	fmt.Fprintf(&b, "%d calls answered", total)
	if len(l.failed) > 0 {
		fmt.Fprintf(&b, "; failed: %s", formatCounts(l.failed))
	}
	if len(l.throttles) > 0 {
		fmt.Fprintf(&b, "; throttled and retried: %s", formatCounts(l.throttles))
	}
	if len(l.expected) > 0 {
		fmt.Fprintf(&b, "; expected errors: %s", formatCounts(l.expected))
	}
	fmt.Fprintf(&b, "; answered by op: %s", formatCounts(l.ok))
	for _, f := range l.failures {
		fmt.Fprintf(&b, "\n  %s", f)
	}
	return b.String()
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// check fails t (without stopping it) when any call failed, with the
// ledger's summary; it logs the summary otherwise.
func (l *ledger) check(t testing.TB) {
	t.Helper()
	if l.failedCount() > 0 {
		t.Errorf("calls failed (hung = no answer within %v): %s", callTimeout, l.summary())
		return
	}
	t.Logf("%s", l.summary())
}

// probe calls each API once with a short deadline and describes which
// answer, for a failure message after a hang.
func probe(sdc *sd.Client, amc *am.Client) string {
	var parts []string
	for _, c := range []struct {
		name string
		f    func(ctx context.Context) error
	}{
		{"Cloud Map ListNamespaces", func(ctx context.Context) error {
			_, err := sdc.ListNamespaces(ctx, &sd.ListNamespacesInput{})
			return err
		}},
		{"App Mesh ListMeshes", func(ctx context.Context) error {
			_, err := amc.ListMeshes(ctx, &am.ListMeshesInput{})
			return err
		}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := c.f(ctx)
		cancel()
		switch {
		case err == nil:
			parts = append(parts, c.name+" answers")
		case errors.Is(err, context.DeadlineExceeded):
			parts = append(parts, c.name+" HANGS")
		default:
			parts = append(parts, fmt.Sprintf("%s fails: %v", c.name, err))
		}
	}
	return strings.Join(parts, "; ")
}

// must runs one setup call with a deadline and stops the test on error.
func must(t testing.TB, what string, f func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s hung: no answer within %v", what, callTimeout)
		}
		t.Fatalf("%s: %v", what, err)
	}
}
