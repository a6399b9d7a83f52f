package cloudmap

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/mapmesh/mapmesh/internal/awsapi"
)

// FuzzDecodeFlat: whatever body awsapi.DecodeFlat reads into a generated
// input, encoding/json reads to the same value; and it reads every flat
// body of plain strings that json.Marshal writes.
func FuzzDecodeFlat(f *testing.F) {
	for _, s := range []string{
		`{"NamespaceName":"ns1","ServiceName":"svc","MaxResults":1000,"HealthStatus":"ALL"}`,
		` { "NamespaceName" : "ns" , "QueryParameters" : { "a" : "b", "a": "c" } , "OptionalParameters":{} }` + "\n",
		`{"ServiceId":"srv-x","InstanceId":"i-1","CreatorRequestId":"t","Attributes":{"AWS_INSTANCE_IPV4":"10.0.0.1"}}`,
		`{"MaxResults":-0}`, `{"MaxResults":01}`, `{"MaxResults":2147483648}`, `{"MaxResults":1e3}`, `{"MaxResults":1.0}`,
		`{"NamespaceName":"a","NamespaceName":"b"}`, `{"namespacename":"x"}`, `{"NamespaceName":null}`,
		`{"NamespaceName":"\u00e9"}`, "{\"NamespaceName\":\"\xff\"}", `{"Attributes":{"k":1}}`, `{}x`, `{},`, ``,
		`{"Filters":[{"Name":"TYPE","Values":["HTTP"]}],"MaxResults":5}`, `{"Id":"ns","Service":{"Description":"d"}}`,
	} {
		f.Add([]byte(s), "ns", "svc", int32(5), map[bool]string{true: "k"}[len(s)%2 == 0], "v")
	}
	f.Fuzz(func(t *testing.T, body []byte, ns, svc string, max int32, key, val string) {
		inputs := []func() awsapi.FlatDecoder{
			func() awsapi.FlatDecoder { return new(DiscoverInstancesInput) },
			func() awsapi.FlatDecoder { return new(RegisterInstanceInput) },
			func() awsapi.FlatDecoder { return new(ListServicesInput) },
			func() awsapi.FlatDecoder { return new(UpdateServiceInput) },
			func() awsapi.FlatDecoder { return new(GetInstancesHealthStatusInput) },
		}
		for _, newIn := range inputs {
			fast := newIn()
			if !awsapi.DecodeFlat(body, fast) {
				continue
			}
			slow := newIn()
			if err := json.Unmarshal(body, slow); err != nil {
				t.Fatalf("DecodeFlat read %q into %T, which encoding/json refuses: %v", body, fast, err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%q into %T: DecodeFlat %+v; encoding/json %+v", body, fast, fast, slow)
			}
		}
		in := DiscoverInstancesInput{NamespaceName: &ns, ServiceName: &svc, MaxResults: &max, QueryParameters: map[string]string{key: val}}
		b, err := json.Marshal(&in)
		if err != nil {
			t.Skip()
		}
		plain := func(s string) bool {
			q, _ := json.Marshal(s)
			return string(q) == `"`+s+`"`
		}
		var got DiscoverInstancesInput
		if plain(ns) && plain(svc) && plain(key) && plain(val) && !awsapi.DecodeFlat(b, &got) {
			t.Fatalf("DecodeFlat refused %s", b)
		}
	})
}
