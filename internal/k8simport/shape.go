package k8simport

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/appmesh/types"
)

// The App Mesh API's JSON and the SDK's Go types, both ways. The SDK keeps
// its (de)serializers to itself, so these walk the types by reflection:
// a JSON member matches the field of the same name (case aside:
// certificateARN is CertificateArn), and a union (an interface such as
// types.ServiceDiscovery) is an object with exactly one member, named
// after the member type (ServiceDiscoveryMemberDns: "dns").

// unions maps each union interface of the App Mesh types to its members,
// by JSON name. TestUnionsComplete checks it against the SDK's source.
var unions = buildUnions(
	[]any{
		(*types.AccessLog)(nil), (*types.Backend)(nil), (*types.ClientTlsCertificate)(nil),
		(*types.GrpcMetadataMatchMethod)(nil), (*types.GrpcRouteMetadataMatchMethod)(nil), (*types.HeaderMatchMethod)(nil),
		(*types.ListenerTimeout)(nil), (*types.ListenerTlsCertificate)(nil), (*types.ListenerTlsValidationContextTrust)(nil),
		(*types.LoggingFormat)(nil), (*types.ServiceDiscovery)(nil), (*types.TlsValidationContextTrust)(nil),
		(*types.VirtualGatewayAccessLog)(nil), (*types.VirtualGatewayClientTlsCertificate)(nil),
		(*types.VirtualGatewayConnectionPool)(nil), (*types.VirtualGatewayListenerTlsCertificate)(nil),
		(*types.VirtualGatewayListenerTlsValidationContextTrust)(nil), (*types.VirtualGatewayTlsValidationContextTrust)(nil),
		(*types.VirtualNodeConnectionPool)(nil), (*types.VirtualServiceProvider)(nil),
	},
	[]any{
		&types.AccessLogMemberFile{}, &types.BackendMemberVirtualService{},
		&types.ClientTlsCertificateMemberFile{}, &types.ClientTlsCertificateMemberSds{},
		&types.GrpcMetadataMatchMethodMemberExact{}, &types.GrpcMetadataMatchMethodMemberPrefix{},
		&types.GrpcMetadataMatchMethodMemberRange{}, &types.GrpcMetadataMatchMethodMemberRegex{},
		&types.GrpcMetadataMatchMethodMemberSuffix{},
		&types.GrpcRouteMetadataMatchMethodMemberExact{}, &types.GrpcRouteMetadataMatchMethodMemberPrefix{},
		&types.GrpcRouteMetadataMatchMethodMemberRange{}, &types.GrpcRouteMetadataMatchMethodMemberRegex{},
		&types.GrpcRouteMetadataMatchMethodMemberSuffix{},
		&types.HeaderMatchMethodMemberExact{}, &types.HeaderMatchMethodMemberPrefix{}, &types.HeaderMatchMethodMemberRange{},
		&types.HeaderMatchMethodMemberRegex{}, &types.HeaderMatchMethodMemberSuffix{},
		&types.ListenerTimeoutMemberGrpc{}, &types.ListenerTimeoutMemberHttp{}, &types.ListenerTimeoutMemberHttp2{},
		&types.ListenerTimeoutMemberTcp{},
		&types.ListenerTlsCertificateMemberAcm{}, &types.ListenerTlsCertificateMemberFile{}, &types.ListenerTlsCertificateMemberSds{},
		&types.ListenerTlsValidationContextTrustMemberFile{}, &types.ListenerTlsValidationContextTrustMemberSds{},
		&types.LoggingFormatMemberJson{}, &types.LoggingFormatMemberText{},
		&types.ServiceDiscoveryMemberAwsCloudMap{}, &types.ServiceDiscoveryMemberDns{},
		&types.TlsValidationContextTrustMemberAcm{}, &types.TlsValidationContextTrustMemberFile{},
		&types.TlsValidationContextTrustMemberSds{},
		&types.VirtualGatewayAccessLogMemberFile{},
		&types.VirtualGatewayClientTlsCertificateMemberFile{}, &types.VirtualGatewayClientTlsCertificateMemberSds{},
		&types.VirtualGatewayConnectionPoolMemberGrpc{}, &types.VirtualGatewayConnectionPoolMemberHttp{},
		&types.VirtualGatewayConnectionPoolMemberHttp2{},
		&types.VirtualGatewayListenerTlsCertificateMemberAcm{}, &types.VirtualGatewayListenerTlsCertificateMemberFile{},
		&types.VirtualGatewayListenerTlsCertificateMemberSds{},
		&types.VirtualGatewayListenerTlsValidationContextTrustMemberFile{},
		&types.VirtualGatewayListenerTlsValidationContextTrustMemberSds{},
		&types.VirtualGatewayTlsValidationContextTrustMemberAcm{}, &types.VirtualGatewayTlsValidationContextTrustMemberFile{},
		&types.VirtualGatewayTlsValidationContextTrustMemberSds{},
		&types.VirtualNodeConnectionPoolMemberGrpc{}, &types.VirtualNodeConnectionPoolMemberHttp{},
		&types.VirtualNodeConnectionPoolMemberHttp2{}, &types.VirtualNodeConnectionPoolMemberTcp{},
		&types.VirtualServiceProviderMemberVirtualNode{}, &types.VirtualServiceProviderMemberVirtualRouter{},
	},
)

// union is one union interface's members.
type union struct {
	byName map[string]reflect.Type // JSON name -> member struct type
	names  map[reflect.Type]string // member struct type -> JSON name
}

func buildUnions(ifaces, members []any) map[reflect.Type]*union {
	out := map[reflect.Type]*union{}
	for _, i := range ifaces {
		out[reflect.TypeOf(i).Elem()] = &union{byName: map[string]reflect.Type{}, names: map[reflect.Type]string{}}
	}
	for _, m := range members {
		pt := reflect.TypeOf(m)
		var found *union
		for it, u := range out {
			if pt.Implements(it) {
				found = u
			}
		}
		_, member, ok := strings.Cut(pt.Elem().Name(), "Member")
		if found == nil || !ok || member == "" {
			panic(fmt.Sprintf("k8simport: %s is not a union member", pt.Elem().Name()))
		}
		name := strings.ToLower(member[:1]) + member[1:]
		found.byName[name] = pt.Elem()
		found.names[pt.Elem()] = name
	}
	return out
}

// fromJSON fills the value dst points to (an SDK type) from v, a value
// decoded by encoding/json with UseNumber. Members that the type does not
// have are errors, named by their path below path.
func fromJSON(v any, dst any, path string) error {
	rv := reflect.ValueOf(dst).Elem()
	out, err := decodeValue(v, rv.Type(), path)
	if err != nil {
		return err
	}
	rv.Set(out)
	return nil
}

func decodeValue(v any, t reflect.Type, path string) (reflect.Value, error) {
	if v == nil {
		return reflect.Zero(t), nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		e, err := decodeValue(v, t.Elem(), path)
		if err != nil {
			return reflect.Value{}, err
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(e)
		return p, nil
	case reflect.Interface:
		u := unions[t]
		m, ok := v.(map[string]any)
		if u == nil || !ok {
			return reflect.Value{}, fmt.Errorf("%s: want an object", path)
		}
		if len(m) != 1 {
			return reflect.Value{}, fmt.Errorf("%s: want exactly one of %s, have %s", path, strings.Join(sortedKeys(u.byName), ", "), keyList(m))
		}
		for k, mv := range m {
			mt, ok := u.byName[k]
			if !ok {
				return reflect.Value{}, fmt.Errorf("%s.%s: App Mesh has no such member here (want one of %s)", path, k, strings.Join(sortedKeys(u.byName), ", "))
			}
			val, err := decodeValue(mv, mt.Field(0).Type, path+"."+k)
			if err != nil {
				return reflect.Value{}, err
			}
			p := reflect.New(mt)
			p.Elem().Field(0).Set(val)
			return p, nil
		}
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return reflect.Value{}, fmt.Errorf("%s: want an object", path)
		}
		out := reflect.New(t).Elem()
		for _, k := range sortedKeys(m) {
			f, ok := fieldFold(t, k)
			if !ok {
				return reflect.Value{}, fmt.Errorf("%s.%s: App Mesh has no such field", path, k)
			}
			val, err := decodeValue(m[k], f.Type, path+"."+k)
			if err != nil {
				return reflect.Value{}, err
			}
			out.FieldByIndex(f.Index).Set(val)
		}
		return out, nil
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return reflect.Value{}, fmt.Errorf("%s: want a list", path)
		}
		out := reflect.MakeSlice(t, len(l), len(l))
		for i, e := range l {
			val, err := decodeValue(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return reflect.Value{}, err
			}
			out.Index(i).Set(val)
		}
		return out, nil
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return reflect.Value{}, fmt.Errorf("%s: want a string", path)
		}
		return reflect.ValueOf(s).Convert(t), nil
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return reflect.Value{}, fmt.Errorf("%s: want true or false", path)
		}
		return reflect.ValueOf(b).Convert(t), nil
	case reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			return reflect.Value{}, fmt.Errorf("%s: want a number", path)
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || (t.Kind() == reflect.Int32 && (i < math.MinInt32 || i > math.MaxInt32)) {
			return reflect.Value{}, fmt.Errorf("%s: want an integer that fits %s, have %s", path, t.Kind(), n)
		}
		return reflect.ValueOf(i).Convert(t), nil
	}
	return reflect.Value{}, fmt.Errorf("%s: cannot decode into %s", path, t)
}

// fieldFold returns the exported field of struct t named k, case aside.
func fieldFold(t reflect.Type, k string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() && strings.EqualFold(f.Name, k) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// toJSON returns v (an SDK value) as the API's JSON would have it: objects
// named by lowerCamel member names, unions as one-member objects, and
// nothing for unset members, empty lists or empty objects. Two values with
// the same toJSON are the same spec.
func toJSON(v any) any {
	return encodeValue(reflect.ValueOf(v))
}

func encodeValue(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		if v.Kind() == reflect.Interface {
			if u := unions[v.Type()]; u != nil {
				e := v.Elem()
				if e.Kind() == reflect.Pointer {
					e = e.Elem()
				}
				name, ok := u.names[e.Type()]
				if !ok {
					name = e.Type().Name() // types.UnknownUnionMember
				}
				if inner := encodeValue(e.Field(0)); inner != nil {
					return map[string]any{name: inner}
				}
				return map[string]any{name: map[string]any{}}
			}
		}
		return encodeValue(v.Elem())
	case reflect.Struct:
		out := map[string]any{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if e := encodeValue(v.Field(i)); e != nil {
				out[strings.ToLower(f.Name[:1])+f.Name[1:]] = e
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case reflect.Slice:
		if v.Len() == 0 {
			return nil
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = encodeValue(v.Index(i))
			if out[i] == nil {
				out[i] = map[string]any{}
			}
		}
		return out
	case reflect.String:
		if v.Len() == 0 {
			return nil
		}
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int32, reflect.Int64:
		return v.Int()
	}
	return fmt.Sprint(v.Interface())
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func keyList(m map[string]any) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(sortedKeys(m), ", ")
}
