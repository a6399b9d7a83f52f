package cloudmap

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mapmesh/mapmesh/internal/awsapi"
)

// benchAuth puts requests in the test environment's account and region.
const benchAuth = "AWS4-HMAC-SHA256 Credential=111122223333/20261122/eu-west-1/servicediscovery/aws4_request, SignedHeaders=host, Signature=0"

// BenchmarkDiscoverInstances measures DiscoverInstances through the protocol
// layer (decode, validate, answer from the view, encode), without sockets,
// for services of 100 and 1,000 instances, all returned.
func BenchmarkDiscoverInstances(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			e := newEnv(b, Config{Quotas: Quotas{InstancesPerNamespace: 10000}})
			_, svcID := e.httpService("bench", "api", true)
			for i := range n {
				e.register(svcID, fmt.Sprintf("i-%04d", i), map[string]string{
					"AWS_INSTANCE_IPV4": fmt.Sprintf("10.0.%d.%d", i/250, i%250), "AWS_INSTANCE_PORT": "8080",
					"stage": "prod", "az": fmt.Sprintf("az%d", i%3), "version": "v1"})
			}
			mux := awsapi.NewMux(awsapi.MuxConfig{})
			mux.HandleJSON(e.b.API())
			body := []byte(fmt.Sprintf(`{"NamespaceName":"bench","ServiceName":"api","MaxResults":%d,"HealthStatus":"ALL"}`, n))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
					req.Header.Set("X-Amz-Target", TargetPrefix+".DiscoverInstances")
					req.Header.Set("Authorization", benchAuth)
					w := &countingWriter{header: http.Header{}}
					mux.ServeHTTP(w, req)
					if w.code != 200 || w.n < 100*n {
						b.Fatalf("status %d, %d bytes", w.code, w.n)
					}
				}
			})
		})
	}
}

// countingWriter is an http.ResponseWriter that counts the body instead
// of keeping it: the cost of sending it is the socket's, not the handler's.
type countingWriter struct {
	header http.Header
	code   int
	n      int
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *countingWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(p)
	return len(p), nil
}

// BenchmarkRegisterInstance measures durable RegisterInstance calls from 8
// concurrent callers through the protocol layer, new instance IDs each time.
func BenchmarkRegisterInstance(b *testing.B) {
	e := newEnv(b, Config{Quotas: Quotas{InstancesPerNamespace: 1 << 30, InstancesPerService: 1 << 30}})
	_, svcID := e.httpService("bench", "api", false)
	mux := awsapi.NewMux(awsapi.MuxConfig{})
	mux.HandleJSON(e.b.API())
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(4) // 8 callers on 2 CPUs
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"ServiceId":%q,"InstanceId":"i-%d","CreatorRequestId":"tok-%d","Attributes":{"AWS_INSTANCE_IPV4":"10.0.0.1","AWS_INSTANCE_PORT":"8080","stage":"prod"}}`, svcID, i, i)
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			req.Header.Set("X-Amz-Target", TargetPrefix+".RegisterInstance")
			req.Header.Set("Authorization", benchAuth)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}
