package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/server"
)

// Raw AWS JSON 1.1 wire tests: what the SDK hides.

// wantError checks an error response: status, __type, the
// X-Amzn-ErrorType header when sent, and the request ID.
func wantError(t *testing.T, r rawResponse, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d (%s); want %d", r.status, r.body, status)
	}
	if got := r.errorType(t); got != code {
		t.Errorf("__type = %q (%s); want %q", got, r.body, code)
	}
	if h := r.header.Get("X-Amzn-ErrorType"); h != "" && strings.SplitN(h, ":", 2)[0] != code {
		t.Errorf("X-Amzn-ErrorType = %q; want %q (the SDK reads it before __type)", h, code)
	}
	if _, ok := r.json(t)["Message"]; !ok {
		t.Errorf("error body %s has no Message member", r.body)
	}
	if !requestIDRE.MatchString(r.header.Get("X-Amzn-Requestid")) {
		t.Errorf("x-amzn-RequestId = %q; want a UUID", r.header.Get("X-Amzn-Requestid"))
	}
}

// TestRequestID: every response carries its own x-amzn-RequestId, errors
// included.
func TestRequestID(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	reqs := []rawRequest{
		{target: "ListNamespaces", body: "{}"},
		{target: "CreateHttpNamespace", body: `{"Name":"rid"}`},
		{target: "GetNamespace", body: `{"Id":"ns-aaaaaaaaaaaaaaaa"}`},
		{target: "GetNamespace", body: `{}`},
		{target: "GetNamespace", body: `{`},
		{target: "NoSuchOperation", body: `{}`},
		{method: http.MethodGet, path: "/", body: ""},
		{target: "ListNamespaces", body: "{}", host: "data-" + h.srv.Addr},
		{path: "/_mapmesh/reset"},
	}
	seen := map[string]bool{}
	for _, rq := range reqs {
		r := h.do(t, rq)
		id := r.header.Get("X-Amzn-Requestid")
		if !requestIDRE.MatchString(id) {
			t.Errorf("%s %s %s -> %d: x-amzn-RequestId = %q; want a UUID", rq.method, rq.path, rq.target, r.status, id)
		}
		if seen[id] {
			t.Errorf("request ID %s given to two responses", id)
		}
		seen[id] = true
	}
}

// TestContentTypesAndShapes: success bodies are JSON 1.1 with null members
// left out; operations without output return {} (or nothing).
func TestContentTypesAndShapes(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	r := h.call(t, "CreateHttpNamespace", `{"Name":"shapes","CreatorRequestId":"c1","Unknown":{"x":1}}`)
	if r.status != 200 {
		t.Fatalf("CreateHttpNamespace with an unknown member = %d %s; want unknown members ignored", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type = %q; want application/x-amz-json-1.1", ct)
	}
	opID, _ := r.json(t)["OperationId"].(string)
	op := h.call(t, "GetOperation", mustJSON(t, map[string]string{"OperationId": opID})).json(t)
	nsID := op["Operation"].(map[string]any)["Targets"].(map[string]any)["NAMESPACE"].(string)

	for _, tc := range []struct{ op, body string }{
		{"GetNamespace", mustJSON(t, map[string]string{"Id": nsID})},
		{"ListNamespaces", `{}`},
		{"GetOperation", mustJSON(t, map[string]string{"OperationId": opID})},
	} {
		r := h.call(t, tc.op, tc.body)
		if r.status != 200 {
			t.Fatalf("%s = %d %s", tc.op, r.status, r.body)
		}
		if strings.Contains(string(r.body), "null") {
			t.Errorf("%s body has a null member; AWS leaves them out: %s", tc.op, r.body)
		}
	}

	svc := h.call(t, "CreateService", mustJSON(t, map[string]any{"Name": "shapes-svc", "NamespaceId": nsID,
		"HealthCheckCustomConfig": map[string]any{}})).json(t)
	svcID := svc["Service"].(map[string]any)["Id"].(string)
	if r := h.call(t, "RegisterInstance", mustJSON(t, map[string]any{"ServiceId": svcID, "InstanceId": "i", "Attributes": map[string]string{}})); r.status != 200 {
		t.Fatalf("RegisterInstance = %d %s", r.status, r.body)
	}
	arn := svc["Service"].(map[string]any)["Arn"].(string)
	empty := []struct{ op, body string }{
		{"TagResource", mustJSON(t, map[string]any{"ResourceARN": arn, "Tags": []map[string]string{{"Key": "k", "Value": "v"}}})},
		{"UntagResource", mustJSON(t, map[string]any{"ResourceARN": arn, "TagKeys": []string{"k"}})},
		{"UpdateServiceAttributes", mustJSON(t, map[string]any{"ServiceId": svcID, "Attributes": map[string]string{"a": "b"}})},
		{"DeleteServiceAttributes", mustJSON(t, map[string]any{"ServiceId": svcID, "Attributes": []string{"a"}})},
		{"UpdateInstanceCustomHealthStatus", mustJSON(t, map[string]any{"ServiceId": svcID, "InstanceId": "i", "Status": "UNHEALTHY"})},
	}
	for _, tc := range empty {
		r := h.call(t, tc.op, tc.body)
		if r.status != 200 {
			t.Errorf("%s = %d %s", tc.op, r.status, r.body)
			continue
		}
		if b := strings.TrimSpace(string(r.body)); b != "{}" && !(tc.op == "UpdateInstanceCustomHealthStatus" && b == "") {
			t.Errorf("%s body = %q; want {}", tc.op, b)
		}
	}
}

// TestSerializationErrors: bodies that are not JSON, or do not fit the
// input shape, are 400 SerializationException.
func TestSerializationErrors(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	tests := []struct{ name, op, body string }{
		{"truncated JSON", "CreateHttpNamespace", `{"Name":`},
		{"not JSON", "ListNamespaces", `hello`},
		{"JSON array", "ListNamespaces", `[]`},
		{"number for a string", "CreateHttpNamespace", `{"Name":5}`},
		{"string for a number", "ListNamespaces", `{"MaxResults":"ten"}`},
		{"object for a list", "CreateHttpNamespace", `{"Name":"x","Tags":{"Key":"a","Value":"b"}}`},
		{"list for a map", "RegisterInstance", `{"ServiceId":"srv-aaaaaaaaaaaaaaaa","InstanceId":"i","Attributes":["a"]}`},
		{"string for a structure", "CreateService", `{"Name":"s","DnsConfig":"A"}`},
		{"fraction for an integer", "ListServices", `{"MaxResults":1.5}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantError(t, h.call(t, tc.op, tc.body), 400, "SerializationException")
		})
	}
}

// TestUnknownOperation: a target that names no operation.
func TestUnknownOperation(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	for _, target := range []string{targetPrefix + ".NoSuchOperation", targetPrefix + ".listNamespaces", "AnotherService_20200101.ListNamespaces"} {
		r := h.do(t, rawRequest{body: "{}", header: map[string]string{"X-Amz-Target": target}})
		wantError(t, r, 400, "UnknownOperationException")
	}
}

// TestValidationMessages: model constraint violations are 400 InvalidInput
// with the Coral text AWS sends (aws/aws-sdk-java#1973; numbers quoted as
// in "Value '100' at 'maxResults'", flanksource/config-db#35).
func TestValidationMessages(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	long := strings.Repeat("d", 1025)
	tests := []struct {
		name, op, body string
		// violations are the "; "-separated parts, in any order.
		violations []string
	}{
		{"missing id", "GetNamespace", `{}`,
			[]string{"Value null at 'id' failed to satisfy constraint: Member must not be null"}},
		{"missing members", "RegisterInstance", `{}`, []string{
			"Value null at 'serviceId' failed to satisfy constraint: Member must not be null",
			"Value null at 'instanceId' failed to satisfy constraint: Member must not be null",
			"Value null at 'attributes' failed to satisfy constraint: Member must not be null",
		}},
		{"missing Vpc", "CreatePrivateDnsNamespace", `{"Name":"x.internal"}`,
			[]string{"Value null at 'vpc' failed to satisfy constraint: Member must not be null"}},
		{"nested missing", "UpdateHttpNamespace", `{"Id":"ns-aaaaaaaaaaaaaaaa","Namespace":{}}`,
			[]string{"Value null at 'namespace.description' failed to satisfy constraint: Member must not be null"}},
		{"pattern", "CreateHttpNamespace", `{"Name":"arn:aws:x"}`,
			[]string{"Value 'arn:aws:x' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(?!arn:)[!-~]{1,1024}$"}},
		{"instance ID pattern", "RegisterInstance", `{"ServiceId":"srv-aaaaaaaaaaaaaaaa","InstanceId":"bad id","Attributes":{}}`,
			[]string{"Value 'bad id' at 'instanceId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z_/:.@-]+$"}},
		{"length", "CreateHttpNamespace", `{"Name":"ok","Description":"` + long + `"}`,
			[]string{"Value '" + long + "' at 'description' failed to satisfy constraint: Member must have length less than or equal to 1024"}},
		{"enum", "CreateService", `{"Name":"s","HealthCheckConfig":{"Type":"UDP"}}`,
			[]string{"Value 'UDP' at 'healthCheckConfig.type' failed to satisfy constraint: Member must satisfy enum value set: [HTTP, HTTPS, TCP]"}},
		{"enum in a list", "CreateService", `{"Name":"s","DnsConfig":{"DnsRecords":[{"Type":"A","TTL":1},{"Type":"MX","TTL":60}]}}`,
			[]string{"Value 'MX' at 'dnsConfig.dnsRecords.2.member.type' failed to satisfy constraint: Member must satisfy enum value set: [SRV, A, AAAA, CNAME]"}},
		{"range above", "DiscoverInstances", `{"NamespaceName":"n","ServiceName":"s","MaxResults":1001}`,
			[]string{"Value '1001' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000"}},
		{"range below", "ListNamespaces", `{"MaxResults":0}`,
			[]string{"Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"}},
		{"two kinds at once", "GetInstance", `{"InstanceId":"` + strings.Repeat("i", 65) + `"}`, []string{
			"Value null at 'serviceId' failed to satisfy constraint: Member must not be null",
			"Value '" + strings.Repeat("i", 65) + "' at 'instanceId' failed to satisfy constraint: Member must have length less than or equal to 64",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := h.call(t, tc.op, tc.body)
			wantError(t, r, 400, "InvalidInput")
			msg := r.message(t)
			n := len(tc.violations)
			prefix := "1 validation error detected: "
			if n > 1 {
				prefix = strconv.Itoa(n) + " validation errors detected: "
			}
			rest, ok := strings.CutPrefix(msg, prefix)
			if !ok {
				t.Fatalf("message = %q; want it to start %q", msg, prefix)
			}
			got := strings.Split(rest, "; ")
			sort.Strings(got)
			want := append([]string(nil), tc.violations...)
			sort.Strings(want)
			if d := diff(want, got); d != "" {
				t.Errorf("violations (-want +got):\n%s", d)
			}
		})
	}
}

// TestTimestampsAreNumbers: CreateDate and UpdateDate are JSON numbers of
// epoch seconds with millisecond precision, never strings.
func TestTimestampsAreNumbers(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	before := time.Now()
	opID, _ := h.call(t, "CreateHttpNamespace", `{"Name":"times"}`).json(t)["OperationId"].(string)
	op := h.call(t, "GetOperation", mustJSON(t, map[string]string{"OperationId": opID})).json(t)["Operation"].(map[string]any)
	nsID := op["Targets"].(map[string]any)["NAMESPACE"].(string)
	ns := h.call(t, "GetNamespace", mustJSON(t, map[string]string{"Id": nsID})).json(t)["Namespace"].(map[string]any)
	svc := h.call(t, "CreateService", mustJSON(t, map[string]string{"Name": "times", "NamespaceId": nsID})).json(t)["Service"].(map[string]any)
	list := h.call(t, "ListNamespaces", `{}`).json(t)["Namespaces"].([]any)[0].(map[string]any)
	after := time.Now()
	for _, tc := range []struct {
		what string
		v    any
	}{
		{"Operation.CreateDate", op["CreateDate"]},
		{"Operation.UpdateDate", op["UpdateDate"]},
		{"Namespace.CreateDate", ns["CreateDate"]},
		{"Service.CreateDate", svc["CreateDate"]},
		{"NamespaceSummary.CreateDate", list["CreateDate"]},
	} {
		num, ok := tc.v.(json.Number)
		if !ok {
			t.Errorf("%s = %#v (%T); want a JSON number", tc.what, tc.v, tc.v)
			continue
		}
		if !epochSecondsRE.MatchString(num.String()) {
			t.Errorf("%s = %s; want epoch seconds with at most millisecond precision", tc.what, num)
		}
		f, _ := num.Float64()
		ts := time.UnixMilli(int64(f*1000 + 0.5))
		checkNear(t, tc.what, &ts, before, after)
	}
}

// TestOversizeBody: a body over the limit is refused without effect.
func TestOversizeBody(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{MaxBodyBytes: 64 << 10})
	big := fmt.Sprintf(`{"Name":"big","Description":%q}`, strings.Repeat("x", 100<<10))
	r := h.call(t, "CreateHttpNamespace", big)
	if r.status < 400 || r.status >= 500 {
		t.Errorf("oversize request = %d %s; want a 4xx refusal", r.status, r.body)
	}
	if r.status != http.StatusRequestEntityTooLarge {
		t.Logf("oversize request status %d (413 expected from an HTTP front door)", r.status)
	}
	if !requestIDRE.MatchString(r.header.Get("X-Amzn-Requestid")) {
		t.Errorf("x-amzn-RequestId = %q; want a UUID", r.header.Get("X-Amzn-Requestid"))
	}
	if n := countNamespaces(t, h.c); n != 0 {
		t.Errorf("namespaces after the refused request = %d; want 0", n)
	}
	// Just under the limit is served.
	ok := fmt.Sprintf(`{"Name":"fits","Description":%q}`, strings.Repeat("x", 1000))
	if r := h.call(t, "CreateHttpNamespace", ok); r.status != 200 {
		t.Errorf("small request = %d %s", r.status, r.body)
	}
}

// TestCredentialScope: a credential scoped to something that cannot be a
// region (40 KB of it, or upper case), or with an access key longer than
// IAM's 128 characters, is refused before anything is stored: Cloud Map
// (JSON 1.1) answers 400 with __type, App Mesh (rest-json) 403 with
// x-amzn-ErrorType, as AWS does. Every real region is served.
func TestCredentialScope(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	scope := func(key, region, service string) string {
		return "AWS4-HMAC-SHA256 Credential=" + key + "/20250101/" + region + "/" + service +
			"/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000"
	}
	bad := []struct{ name, key, region, code string }{
		{"region of 40 KB", "AKIDEXAMPLE", "us-" + strings.Repeat("x", 40<<10) + "-1", "InvalidSignatureException"},
		{"upper-case region", "AKIDEXAMPLE", "US-EAST-1", "InvalidSignatureException"},
		{"access key of 129", strings.Repeat("A", 129), defaultRegion, "UnrecognizedClientException"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(t, rawRequest{target: "CreateHttpNamespace", body: `{"Name":"scoped"}`,
				header: map[string]string{"Authorization": scope(tc.key, tc.region, "servicediscovery")}})
			wantError(t, r, http.StatusBadRequest, tc.code)
			if got := r.message(t); tc.code == "InvalidSignatureException" && got != "Credential should be scoped to a valid region." {
				t.Errorf("Cloud Map message = %q; want %q", got, "Credential should be scoped to a valid region.")
			}
			r = h.do(t, rawRequest{method: http.MethodPut, path: "/v20190125/meshes", body: `{"meshName":"scoped"}`,
				header: map[string]string{"Authorization": scope(tc.key, tc.region, "appmesh"), "Content-Type": "application/json"}})
			if r.status != http.StatusForbidden || r.header.Get("X-Amzn-Errortype") != tc.code || r.message(t) == "" {
				t.Errorf("App Mesh CreateMesh = %d %v %s; want 403 %s with a message", r.status, r.header, r.body, tc.code)
			}
			if !requestIDRE.MatchString(r.header.Get("X-Amzn-Requestid")) {
				t.Errorf("App Mesh x-amzn-RequestId = %q; want a UUID", r.header.Get("X-Amzn-Requestid"))
			}
		})
	}
	if n := countNamespaces(t, h.c); n != 0 {
		t.Errorf("namespaces after the refused requests = %d; want 0", n)
	}
	if r := h.rest(t, "111122223333", http.MethodGet, "/v20190125/meshes", ""); r.status != 200 || len(r.json(t)["meshes"].([]any)) != 0 {
		t.Errorf("ListMeshes after the refused requests = %d %s; want none", r.status, r.body)
	}
	for _, region := range []string{"us-gov-west-1", "cn-northwest-1", "eu-isoe-west-1", "ap-southeast-7", "mx-central-1", "il-central-1", "us-isof-south-1"} {
		r := h.do(t, rawRequest{target: "ListNamespaces", body: `{}`,
			header: map[string]string{"Authorization": scope("AKIDEXAMPLE", region, "servicediscovery")}})
		if r.status != 200 {
			t.Errorf("ListNamespaces in %s = %d %s; want 200", region, r.status, r.body)
		}
	}
}

// TestReset: the test-only reset endpoints wipe every account's state.
func TestReset(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/_mapmesh/reset", "/moto-api/reset"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			t.Parallel()
			h := start(t, server.Config{})
			other := h.account()
			createHTTPNamespace(t, h.c, "before-reset")
			nsID, _ := createHTTPNamespace(t, other, "before-reset")
			register(t, other, *httpService(t, other, nsID).Id, "i", nil)

			r := h.do(t, rawRequest{path: path})
			if r.status != 200 {
				t.Fatalf("POST %s = %d %s", path, r.status, r.body)
			}
			for _, c := range []struct {
				name string
				n    int
			}{{"default account", countNamespaces(t, h.c)}, {"other account", countNamespaces(t, other)}} {
				if c.n != 0 {
					t.Errorf("%s has %d namespaces after reset; want 0", c.name, c.n)
				}
			}
			if ops := listOperations(t, other, nil); len(ops) != 0 {
				t.Errorf("%d operations after reset; want 0", len(ops))
			}
			// The server keeps working, names are free again.
			createHTTPNamespace(t, h.c, "before-reset")
		})
	}
}
