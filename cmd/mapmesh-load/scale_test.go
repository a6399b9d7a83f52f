package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
)

func TestLayout(t *testing.T) {
	l := layout{Prefix: "scale", Instances: 4500, PerService: 1000, ServicesPerNamespace: 2}
	if got, want := l.services(), int64(5); got != want {
		t.Errorf("services() = %d; want %d", got, want)
	}
	if got, want := l.namespaces(), int64(3); got != want {
		t.Errorf("namespaces() = %d; want %d", got, want)
	}
	tests := []struct {
		g                int64
		wantNS, wantSvc  string
		wantSvcIdx       int64
		wantLo, wantHi   int64
		wantID, wantIPv4 string
		wantPort         string
	}{
		{0, "scale-0000", "svc-00", 0, 0, 1000, "i-00000000000000000", "10.0.0.0", "8080"},
		{999, "scale-0000", "svc-00", 0, 0, 1000, "i-000000000000003e7", "10.0.3.231", "8083"},
		{1000, "scale-0000", "svc-01", 1, 1000, 2000, "i-000000000000003e8", "10.0.3.232", "8080"},
		{2000, "scale-0001", "svc-00", 2, 2000, 3000, "i-000000000000007d0", "10.0.7.208", "8080"},
		{4499, "scale-0002", "svc-00", 4, 4000, 4500, "i-00000000000001193", "10.0.17.147", "8083"},
	}
	for _, tc := range tests {
		s := l.serviceOf(tc.g)
		ns := l.namespaceOf(s)
		if s != tc.wantSvcIdx || l.namespaceName(ns) != tc.wantNS || l.serviceName(s) != tc.wantSvc {
			t.Errorf("instance %d: service %d %s/%s; want %d %s/%s", tc.g, s, l.namespaceName(ns), l.serviceName(s), tc.wantSvcIdx, tc.wantNS, tc.wantSvc)
		}
		if lo, hi := l.instancesOf(s); lo != tc.wantLo || hi != tc.wantHi {
			t.Errorf("instancesOf(%d) = [%d, %d); want [%d, %d)", s, lo, hi, tc.wantLo, tc.wantHi)
		}
		if got := scaleInstanceID(tc.g); got != tc.wantID {
			t.Errorf("scaleInstanceID(%d) = %q; want %q", tc.g, got, tc.wantID)
		}
		a := scaleAttributes(tc.g)
		if a["AWS_INSTANCE_IPV4"] != tc.wantIPv4 || a["AWS_INSTANCE_PORT"] != tc.wantPort || len(a) != 4 {
			t.Errorf("scaleAttributes(%d) = %v; want IPv4 %s, port %s and two custom attributes", tc.g, a, tc.wantIPv4, tc.wantPort)
		}
	}
	for _, bad := range []layout{{Prefix: "", Instances: 1, PerService: 1, ServicesPerNamespace: 1}, {Prefix: "x", Instances: 1, PerService: 0, ServicesPerNamespace: 1}} {
		if bad.check() == nil {
			t.Errorf("layout %+v check() = nil; want an error", bad)
		}
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&apiError{Status: 400, Type: "InstanceNotFound"}, false},
		{&apiError{Status: 400, Type: "ThrottlingException"}, true},
		{&apiError{Status: 503, Type: "ServiceUnavailable"}, true},
		{fmt.Errorf("load: RegisterInstance: %w", &apiError{Status: 500}), true},
		{errors.New("dial tcp: connection refused"), true},
		{context.Canceled, false},
	}
	for _, tc := range tests {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v; want %v", tc.err, got, tc.want)
		}
	}
}

// fakeScale is an in-memory Cloud Map with just what the scale commands
// call: namespaces, services, instances and operations, paged by offset.
type fakeScale struct {
	t *testing.T

	mu         sync.Mutex
	namespaces []fakeNS                     // guarded by mu
	services   []fakeSvc                    // guarded by mu
	instances  map[string]map[string]string // guarded by mu: service id -> instance id -> CreatorRequestId
	ops        []fakeOp                     // guarded by mu, oldest first
	fail       int                          // guarded by mu: answer this many more requests with 500
}

type fakeNS struct{ id, name string }
type fakeSvc struct{ id, name, nsID string }
type fakeOp struct{ id, typ, svc string }

func newFakeScale(t *testing.T) *fakeScale {
	return &fakeScale{t: t, instances: map[string]map[string]string{}}
}

// page returns the window of n items after token, and the next token.
func page(n int, token string, max int) (lo, hi int, next string) {
	lo, _ = strconv.Atoi(token)
	if max <= 0 {
		max = 100
	}
	hi = min(lo+max, n)
	if hi < n {
		next = strconv.Itoa(hi)
	}
	return lo, hi, next
}

func (f *fakeScale) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := verifySigV4(r, body, testSecretKey); err != nil {
		f.t.Errorf("%s: %v", r.Header.Get("X-Amz-Target"), err)
	}
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	var in struct {
		Name, NamespaceId, ServiceId, InstanceId, CreatorRequestId, OperationId string
		NamespaceName, ServiceName, NextToken                                   string
		MaxResults                                                              int
		Attributes                                                              map[string]string
		Filters                                                                 []filter
	}
	if err := json.Unmarshal(body, &in); err != nil {
		f.t.Errorf("%s: body %s: %v", op, body, err)
	}
	filterValue := func(name string) string {
		for _, fl := range in.Filters {
			if fl.Name == name {
				return fl.Values[0]
			}
		}
		return ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fail := func(status int, code string) {
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":"fake"}`, code)
	}
	if f.fail > 0 {
		f.fail--
		fail(500, "InternalFailure")
		return
	}
	var out any
	newOp := func(typ, svc string) string {
		id := fmt.Sprintf("op-%d", len(f.ops))
		f.ops = append(f.ops, fakeOp{id, typ, svc})
		return id
	}
	switch op {
	case "ListNamespaces":
		lo, hi, next := page(len(f.namespaces), in.NextToken, in.MaxResults)
		var items []map[string]string
		for _, ns := range f.namespaces[lo:hi] {
			items = append(items, map[string]string{"Id": ns.id, "Name": ns.name})
		}
		out = map[string]any{"Namespaces": items, "NextToken": next}
	case "CreateHttpNamespace":
		id := fmt.Sprintf("ns-%d", len(f.namespaces))
		f.namespaces = append(f.namespaces, fakeNS{id, in.Name})
		opID := newOp("CREATE_NAMESPACE", "")
		f.ops[len(f.ops)-1].svc = "ns:" + id
		out = map[string]string{"OperationId": opID}
	case "GetOperation":
		i, _ := strconv.Atoi(strings.TrimPrefix(in.OperationId, "op-"))
		out = map[string]any{"Operation": map[string]any{"Status": "SUCCESS",
			"Targets": map[string]string{"NAMESPACE": strings.TrimPrefix(f.ops[i].svc, "ns:")}}}
	case "ListServices":
		var match []fakeSvc
		for _, s := range f.services {
			if s.nsID == filterValue("NAMESPACE_ID") {
				match = append(match, s)
			}
		}
		lo, hi, next := page(len(match), in.NextToken, in.MaxResults)
		var items []map[string]string
		for _, s := range match[lo:hi] {
			items = append(items, map[string]string{"Id": s.id, "Name": s.name})
		}
		out = map[string]any{"Services": items, "NextToken": next}
	case "CreateService":
		id := fmt.Sprintf("srv-%d", len(f.services))
		f.services = append(f.services, fakeSvc{id, in.Name, in.NamespaceId})
		f.instances[id] = map[string]string{}
		out = map[string]any{"Service": map[string]string{"Id": id}}
	case "ListInstances":
		ids := slices.Sorted(func(yield func(string) bool) {
			for id := range f.instances[in.ServiceId] {
				if !yield(id) {
					return
				}
			}
		})
		lo, hi, next := page(len(ids), in.NextToken, in.MaxResults)
		var items []map[string]string
		for _, id := range ids[lo:hi] {
			items = append(items, map[string]string{"Id": id})
		}
		out = map[string]any{"Instances": items, "NextToken": next}
	case "RegisterInstance":
		m, ok := f.instances[in.ServiceId]
		switch {
		case !ok:
			fail(400, "ServiceNotFound")
			return
		case in.CreatorRequestId == "" || len(in.Attributes) != 4:
			f.t.Errorf("RegisterInstance %s: CreatorRequestId %q, attributes %v", in.InstanceId, in.CreatorRequestId, in.Attributes)
		}
		m[in.InstanceId] = in.CreatorRequestId
		out = map[string]string{"OperationId": newOp("REGISTER_INSTANCE", in.ServiceId)}
	case "DeregisterInstance":
		if _, ok := f.instances[in.ServiceId][in.InstanceId]; !ok {
			fail(400, "InstanceNotFound")
			return
		}
		delete(f.instances[in.ServiceId], in.InstanceId)
		out = map[string]string{"OperationId": newOp("DEREGISTER_INSTANCE", in.ServiceId)}
	case "ListOperations":
		var match []fakeOp
		for _, o := range f.ops {
			if s := filterValue("SERVICE_ID"); s != "" && o.svc != s {
				continue
			}
			if typ := filterValue("TYPE"); typ != "" && o.typ != typ {
				continue
			}
			match = append(match, o)
		}
		lo, hi, next := page(len(match), in.NextToken, in.MaxResults)
		var items []map[string]string
		for _, o := range match[lo:hi] {
			items = append(items, map[string]string{"Id": o.id, "Status": "SUCCESS"})
		}
		out = map[string]any{"Operations": items, "NextToken": next}
	case "DiscoverInstances":
		var items []map[string]any
		for _, s := range f.services {
			if s.name == in.ServiceName {
				for id := range f.instances[s.id] {
					items = append(items, map[string]any{"InstanceId": id})
				}
			}
		}
		out = map[string]any{"Instances": items, "InstancesRevision": len(f.ops)}
	default:
		f.t.Errorf("unexpected %s", op)
		fail(400, "UnknownOperation")
		return
	}
	w.Header().Set("Content-Type", contentType)
	_ = json.NewEncoder(w).Encode(out)
}

// serviceIDLocked is the id of service svc of namespace ns, or "". Services
// are created concurrently, so their ids do not follow the layout's order.
func (f *fakeScale) serviceIDLocked(ns, svc string) string {
	for _, s := range f.services {
		i := slices.IndexFunc(f.namespaces, func(n fakeNS) bool { return n.id == s.nsID })
		if i >= 0 && f.namespaces[i].name == ns && s.name == svc {
			return s.id
		}
	}
	return ""
}

// instanceServiceID is the id of the service that holds instance g of l.
func (f *fakeScale) instanceServiceID(l layout, g int64) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := l.serviceOf(g)
	return f.serviceIDLocked(l.namespaceName(l.namespaceOf(s)), l.serviceName(s))
}

// check compares the fake's instances with the layout: every instance is
// registered in its service, and nothing else.
func (f *fakeScale) check(t *testing.T, l layout) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.services) != int(l.services()) || len(f.namespaces) != int(l.namespaces()) {
		t.Fatalf("fake has %d namespaces and %d services; want %d and %d", len(f.namespaces), len(f.services), l.namespaces(), l.services())
	}
	for s := range l.services() {
		ns, svc := l.namespaceName(l.namespaceOf(s)), l.serviceName(s)
		id := f.serviceIDLocked(ns, svc)
		if id == "" {
			t.Errorf("service %d (%s/%s) does not exist", s, ns, svc)
			continue
		}
		lo, hi := l.instancesOf(s)
		if got := len(f.instances[id]); got != int(hi-lo) {
			t.Errorf("service %d (%s/%s) holds %d instances; want %d", s, ns, svc, got, hi-lo)
		}
		for g := lo; g < hi; g++ {
			if _, ok := f.instances[id][scaleInstanceID(g)]; !ok {
				t.Errorf("service %d (%s/%s) lacks instance %d (%s)", s, ns, svc, g, scaleInstanceID(g))
			}
		}
	}
}

func (f *fakeScale) opCount() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.ops))
}

func TestPopulateChurnOps(t *testing.T) {
	fake := newFakeScale(t)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := newClient(srv.URL+"/", "", "us-east-1", testAccessKey, testSecretKey, 8, 5*time.Second)
	ctx := context.Background()
	l := layout{Prefix: "t", Instances: 2500, PerService: 1000, ServicesPerNamespace: 2}

	fake.fail = 3 // the first calls fail and are retried
	r, err := populate(ctx, c, l, 8, 0)
	if err != nil {
		t.Fatalf("populate: %v", err)
	}
	if r.Done != 2500 || r.Want != 2500 || r.Skipped != 0 || r.NamespacesCreated != 2 || r.ServicesCreated != 3 {
		t.Errorf("populate = done %d of %d, skipped %d, created %d namespaces and %d services; want 2500 of 2500, 0, 2, 3",
			r.Done, r.Want, r.Skipped, r.NamespacesCreated, r.ServicesCreated)
	}
	if got := sumValues(r.Errors); got != 3 {
		t.Errorf("populate errors = %v; want the 3 retried", r.Errors)
	}
	fake.check(t, l)

	// Again: nothing to do. With two instances gone: just those.
	if r, err = populate(ctx, c, l, 8, 0); err != nil || r.Done != 0 || r.Skipped != 2500 || r.NamespacesCreated+r.ServicesCreated != 0 {
		t.Fatalf("populate again = %+v, %v; want nothing done, 2500 skipped", r.ScaleResult, err)
	}
	for _, g := range []int64{1001, 2499} {
		id := fake.instanceServiceID(l, g)
		fake.mu.Lock()
		delete(fake.instances[id], scaleInstanceID(g))
		fake.mu.Unlock()
	}
	if r, err = populate(ctx, c, l, 8, 0); err != nil || r.Done != 2 || r.Skipped != 2498 {
		t.Fatalf("populate after deletes = %+v, %v; want 2 done, 2498 skipped", r.ScaleResult, err)
	}
	fake.check(t, l)

	// Churn: every pair is two operations, and no worker deregisters an
	// instance that another is churning (the fake would say InstanceNotFound).
	before := fake.opCount()
	r, err = churn(ctx, c, l, 400, 16, 1, 0)
	if err != nil {
		t.Fatalf("churn: %v", err)
	}
	if r.Done != 400 || len(r.Errors) != 0 || r.Deregister == nil || r.Deregister.P50 <= 0 {
		t.Errorf("churn = done %d, errors %v, deregister %v; want 400, none, timed", r.Done, r.Errors, r.Deregister)
	}
	if got := fake.opCount() - before; got != 800 {
		t.Errorf("churn added %d operations; want 800", got)
	}
	fake.check(t, l)
	if _, err := churn(ctx, c, layout{Prefix: "other", Instances: 10, PerService: 10, ServicesPerNamespace: 1}, 1, 1, 1, 0); err == nil {
		t.Error("churn of a layout never populated: no error; want namespace not found")
	}

	total := fake.opCount()
	res, err := measureOps(ctx, c, opsConfig{Pages: 3, MaxResults: 100, WalkBudget: time.Minute, ServiceID: "srv-0"})
	if err != nil {
		t.Fatalf("measureOps: %v", err)
	}
	if res.Retained == nil || *res.Retained != total || !res.Walk.ReachedEnd {
		t.Errorf("measureOps retained %v (walk %+v); want %d counted", res.Retained, res.Walk, total)
	}
	kinds := map[string]OpsKind{}
	for _, k := range res.Kinds {
		kinds[k.Kind] = k
		if k.Pages == 0 || k.Error != "" || k.P50 <= 0 {
			t.Errorf("kind %s: %+v; want pages timed, no error", k.Kind, k)
		}
	}
	if k := kinds["first"]; k.Pages != 3 || k.MaxItems != 100 {
		t.Errorf("first = %+v; want 3 pages of 100", k)
	}
	if k := kinds["deep"]; k.Pages != 3 || k.StartDepth != (total+99)/100*100-300 {
		t.Errorf("deep = %+v; want the last 3 pages, from %d", k, (total+99)/100*100-300)
	}
	if k := kinds["type"]; k.Matching != nil || k.MinItems != 100 {
		t.Errorf("type = %+v; want full pages of the 400 deregistrations, not all read", k)
	}
	if k := kinds["service"]; k.Pages != 3 {
		t.Errorf("service = %+v; want 3 pages", k)
	}

	// A walk out of budget at once: the deep pages start at the top, and
	// count the operations when they reach the end.
	res, err = measureOps(ctx, c, opsConfig{Pages: 5, MaxResults: 1000, WalkBudget: 0})
	if err != nil {
		t.Fatalf("measureOps(no walk budget): %v", err)
	}
	if res.Walk.Pages != 0 || res.Walk.StoppedBy != "budget" || res.Retained == nil || *res.Retained != total {
		t.Errorf("measureOps(no walk budget) walk %+v, retained %v; want no walk, %d counted by the deep pages", res.Walk, res.Retained, total)
	}

	// A walk to a depth stops there; the deep pages start at it.
	res, err = measureOps(ctx, c, opsConfig{Pages: 2, MaxResults: 50, DeepDepth: 500, WalkBudget: time.Minute})
	if err != nil {
		t.Fatalf("measureOps(depth 500): %v", err)
	}
	if res.Retained != nil || res.Walk.StoppedBy != "depth" || res.Walk.Operations != 500 {
		t.Errorf("walk = %+v, retained %v; want stopped by depth at 500, not counted", res.Walk, res.Retained)
	}
	for _, k := range res.Kinds {
		if k.Kind == "deep" && (k.StartDepth != 500 || k.Pages != 2 || k.MaxItems != 50) {
			t.Errorf("deep = %+v; want 2 pages of 50 from 500", k)
		}
		if k.Kind == "service" {
			t.Errorf("kind service measured without a service id")
		}
	}
}

func TestWaitReady(t *testing.T) {
	var mu sync.Mutex
	refuse := 3
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if refuse > 0 {
			refuse--
			w.Header().Set("X-Amzn-ErrorType", "ServiceUnavailable")
			w.WriteHeader(503)
			return
		}
		var in discoverInput
		_ = json.NewDecoder(r.Body).Decode(&in)
		if in.HealthStatus != "ALL" || in.MaxResults != 1000 {
			t.Errorf("DiscoverInstances input %+v; want HealthStatus ALL, MaxResults 1000", in)
		}
		fmt.Fprint(w, `{"Instances":[{"InstanceId":"a"},{"InstanceId":"b"}],"InstancesRevision":1}`)
	}))
	defer srv.Close()
	c := newClient(srv.URL, "", "us-east-1", testAccessKey, testSecretKey, 1, 5*time.Second)
	in := discoverInput{NamespaceName: "ns", ServiceName: "svc", MaxResults: 1000, HealthStatus: "ALL"}
	since := time.Now().Add(-time.Second)
	res, err := waitReady(context.Background(), c, in, since, time.Millisecond, 10*time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 4 || res.Instances != 2 || res.Errors["503 ServiceUnavailable"] != 3 {
		t.Errorf("waitReady = %+v; want 4 attempts, 2 instances, 3 errors 503", res)
	}
	if res.FirstResponseSec < 1 || res.FirstAnswerSec < res.FirstResponseSec {
		t.Errorf("first response %.3fs, first answer %.3fs; want at least 1s, in that order", res.FirstResponseSec, res.FirstAnswerSec)
	}

	// anyAnswer stops at the first error answer.
	mu.Lock()
	refuse = 1
	mu.Unlock()
	if res, err = waitReady(context.Background(), c, in, since, time.Millisecond, 10*time.Second, true); err != nil || res.Attempts != 1 || res.FirstAnswerSec != 0 {
		t.Errorf("waitReady(anyAnswer) = %+v, %v; want one attempt, no answer", res, err)
	}

	srv.Close() // nothing listens now: the wait gives up
	start := time.Now()
	if _, err := waitReady(context.Background(), c, in, start, 10*time.Millisecond, 300*time.Millisecond, false); err == nil {
		t.Error("waitReady on a closed server: no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("waitReady(wait 300ms) took %v", d)
	}
}

// TestScaleAgainstServer runs the scale commands against a real mapmesh:
// the layout through the API, churn, ListOperations paged through its
// NextToken and filters, and a restart on the same data dir. It relies on
// nothing but the public API, so it holds whatever the server's tokens look
// like.
func TestScaleAgainstServer(t *testing.T) {
	srv := servertest.Start(t, server.Config{})
	ctx := context.Background()
	c := newClient(srv.URL+"/", "", "us-east-1", testAccessKey, testSecretKey, 8, 10*time.Second)
	defer c.hc.CloseIdleConnections()

	// The empty server: with anyAnswer, its NamespaceNotFound is the answer.
	in := discoverInput{NamespaceName: "t-0000", ServiceName: "svc-00", MaxResults: 1000, HealthStatus: "ALL"}
	ready, err := waitReady(ctx, c, in, time.Now(), 10*time.Millisecond, 10*time.Second, true)
	if err != nil || ready.Attempts != 1 || ready.FirstResponseSec <= 0 || ready.FirstAnswerSec != 0 || ready.Errors["400 NamespaceNotFound"] != 1 {
		t.Fatalf("waitReady(anyAnswer) on the empty server = %+v, %v; want one NamespaceNotFound, timed", ready, err)
	}
	l := layout{Prefix: "t", Instances: 1200, PerService: 500, ServicesPerNamespace: 2}
	r, err := populate(ctx, c, l, 8, 0)
	if err != nil {
		t.Fatalf("populate: %v", err)
	}
	if r.Done != 1200 || r.NamespacesCreated != 2 || r.ServicesCreated != 3 || len(r.Errors) != 0 {
		t.Fatalf("populate = done %d, %d namespaces and %d services created, errors %v; want 1200, 2, 3, none",
			r.Done, r.NamespacesCreated, r.ServicesCreated, r.Errors)
	}
	r, err = churn(ctx, c, l, 150, 8, 1, 0)
	if err != nil {
		t.Fatalf("churn: %v", err)
	}
	if r.Done != 150 || len(r.Errors) != 0 {
		t.Errorf("churn = done %d, errors %v; want 150, none", r.Done, r.Errors)
	}
	for s := range l.services() {
		lo, hi := l.instancesOf(s)
		var out discoverOutput
		in := discoverInput{NamespaceName: l.namespaceName(l.namespaceOf(s)), ServiceName: l.serviceName(s), MaxResults: 1000, HealthStatus: "ALL"}
		if err := c.call(ctx, "DiscoverInstances", in, &out); err != nil || len(out.Instances) != int(hi-lo) {
			t.Errorf("DiscoverInstances(%s/%s) = %d instances, %v; want %d", in.NamespaceName, in.ServiceName, len(out.Instances), err, hi-lo)
		}
	}

	svc, err := resolveService(ctx, c, "t-0000", "svc-00")
	if err != nil {
		t.Fatal(err)
	}
	res, err := measureOps(ctx, c, opsConfig{Pages: 2, MaxResults: 100, WalkBudget: time.Minute, ServiceID: svc})
	if err != nil {
		t.Fatalf("measureOps: %v", err)
	}
	// 2 namespaces, 1,200 registrations, 150 pairs.
	if want := int64(2 + 1200 + 300); res.Retained == nil || *res.Retained != want {
		t.Errorf("measureOps retained %v (walk %+v); want %d counted", res.Retained, res.Walk, want)
	}
	for _, k := range res.Kinds {
		if k.Pages == 0 || k.Error != "" {
			t.Errorf("kind %s = %+v; want pages timed, no error", k.Kind, k)
		}
		if k.Kind == "type" && (k.Matching == nil || *k.Matching != 150) {
			t.Errorf("type = %+v; want the 150 deregistrations, all read", k)
		}
	}

	// The same data dir, a new server: the first answer holds the service.
	srv.Stop(t)
	srv2 := servertest.Start(t, server.Config{DataDir: srv.DataDir})
	c2 := newClient(srv2.URL+"/", "", "us-east-1", testAccessKey, testSecretKey, 1, 10*time.Second)
	defer c2.hc.CloseIdleConnections()
	ready, err = waitReady(ctx, c2, in, time.Now(), 10*time.Millisecond, 10*time.Second, false)
	if err != nil || ready.Instances != 500 {
		t.Fatalf("waitReady after restart = %+v, %v; want 500 instances", ready, err)
	}
	if r, err = populate(ctx, c2, l, 8, 0); err != nil || r.Done != 0 || r.Skipped != 1200 {
		t.Errorf("populate after restart = %+v, %v; want nothing to do", r.ScaleResult, err)
	}
}
