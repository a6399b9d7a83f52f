package k8simport

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/google/go-cmp/cmp"
)

// TestUnionsComplete: the union table has every union and member of the
// App Mesh SDK's types, read from the SDK's source.
func TestUnionsComplete(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-sdk-go-v2/service/appmesh").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(strings.TrimSpace(string(out)), "types", "types.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, s := range g.Specs {
			ts, ok := s.(*ast.TypeSpec)
			if !ok {
				continue
			}
			switch ts.Type.(type) {
			case *ast.InterfaceType:
				want["union "+ts.Name.Name] = true
			case *ast.StructType:
				if strings.Contains(ts.Name.Name, "Member") && ts.Name.Name != "UnknownUnionMember" {
					want["member "+ts.Name.Name] = true
				}
			}
		}
	}
	got := map[string]bool{}
	for it, u := range unions {
		got["union "+it.Name()] = true
		for mt := range u.names {
			got["member "+mt.Name()] = true
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("unions table (-SDK +table):\n%s", d)
	}
}

func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestFromJSON(t *testing.T) {
	in := `{"listeners":[{"portMapping":{"port":8080,"protocol":"http"},
		"tls":{"mode":"STRICT","certificate":{"acm":{"certificateARN":"arn:aws:acm:us-east-1:1:certificate/x"}}},
		"timeout":{"http":{"perRequest":{"unit":"s","value":15}}}}],
		"serviceDiscovery":{"dns":{"hostname":"web.local","responseType":"ENDPOINTS"}},
		"backends":[{"virtualService":{"virtualServiceName":"db.local"}}],
		"logging":{"accessLog":{"file":{"path":"/dev/stdout","format":{"text":"%START_TIME%"}}}}}`
	var spec types.VirtualNodeSpec
	if err := fromJSON(decodeJSON(t, in), &spec, "spec"); err != nil {
		t.Fatal(err)
	}
	want := types.VirtualNodeSpec{
		Listeners: []types.Listener{{
			PortMapping: &types.PortMapping{Port: aws.Int32(8080), Protocol: types.PortProtocolHttp},
			Tls: &types.ListenerTls{Mode: types.ListenerTlsModeStrict,
				Certificate: &types.ListenerTlsCertificateMemberAcm{Value: types.ListenerTlsAcmCertificate{CertificateArn: aws.String("arn:aws:acm:us-east-1:1:certificate/x")}}},
			Timeout: &types.ListenerTimeoutMemberHttp{Value: types.HttpTimeout{PerRequest: &types.Duration{Unit: types.DurationUnitS, Value: aws.Int64(15)}}},
		}},
		ServiceDiscovery: &types.ServiceDiscoveryMemberDns{Value: types.DnsServiceDiscovery{Hostname: aws.String("web.local"), ResponseType: types.DnsResponseTypeEndpoints}},
		Backends:         []types.Backend{&types.BackendMemberVirtualService{Value: types.VirtualServiceBackend{VirtualServiceName: aws.String("db.local")}}},
		Logging: &types.Logging{AccessLog: &types.AccessLogMemberFile{Value: types.FileAccessLog{Path: aws.String("/dev/stdout"),
			Format: &types.LoggingFormatMemberText{Value: "%START_TIME%"}}}},
	}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("fromJSON = %+v; want %+v", spec, want)
	}
	// toJSON gives the API's JSON back (ARN spelled as the API spells it).
	b, _ := json.Marshal(toJSON(&spec))
	var back, orig any
	_ = json.Unmarshal(b, &back)
	_ = json.Unmarshal([]byte(strings.Replace(in, "certificateARN", "certificateArn", 1)), &orig)
	if d := cmp.Diff(orig, back); d != "" {
		t.Errorf("toJSON(fromJSON(x)) differs from x (-x +got):\n%s", d)
	}
}

func TestFromJSONErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"listeners":[{"portMapping":{"port":8080,"protocol":"http","nope":1}}]}`, "spec.listeners[0].portMapping.nope: App Mesh has no such field"},
		{`{"serviceDiscovery":{"dns":{"hostname":"a"},"awsCloudMap":{}}}`, "spec.serviceDiscovery: want exactly one of awsCloudMap, dns, have awsCloudMap, dns"},
		{`{"serviceDiscovery":{"consul":{}}}`, "spec.serviceDiscovery.consul: App Mesh has no such member here (want one of awsCloudMap, dns)"},
		{`{"listeners":[{"portMapping":{"port":"80"}}]}`, "spec.listeners[0].portMapping.port: want a number"},
		{`{"listeners":[{"portMapping":{"port":4294967296}}]}`, "spec.listeners[0].portMapping.port: want an integer that fits int32, have 4294967296"},
		{`{"listeners":{}}`, "spec.listeners: want a list"},
		{`{"backends":[{"virtualService":{"virtualServiceName":7}}]}`, "spec.backends[0].virtualService.virtualServiceName: want a string"},
	} {
		var spec types.VirtualNodeSpec
		err := fromJSON(decodeJSON(t, tc.in), &spec, "spec")
		if err == nil || err.Error() != tc.want {
			t.Errorf("fromJSON(%s) = %v; want %q", tc.in, err, tc.want)
		}
	}
}

// TestToJSONEmpty: unset, empty and nil compare equal, as the controller's
// cmpopts.EquateEmpty makes them; union members keep their names.
func TestToJSONEmpty(t *testing.T) {
	a := &types.VirtualRouterSpec{Listeners: []types.VirtualRouterListener{}}
	b := &types.VirtualRouterSpec{}
	if !reflect.DeepEqual(toJSON(a), toJSON(b)) {
		t.Errorf("toJSON(%+v) != toJSON(%+v)", a, b)
	}
	exact := toJSON(&types.HttpRouteHeader{Name: aws.String("x"), Match: &types.HeaderMatchMethodMemberExact{Value: "v"}})
	prefix := toJSON(&types.HttpRouteHeader{Name: aws.String("x"), Match: &types.HeaderMatchMethodMemberPrefix{Value: "v"}})
	if reflect.DeepEqual(exact, prefix) {
		t.Errorf("toJSON of exact and prefix matches are both %v", exact)
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(exact)
	if got := strings.TrimSpace(buf.String()); got != `{"match":{"exact":"v"},"name":"x"}` {
		t.Errorf("toJSON(header) = %s", got)
	}
}
