package conformance

import (
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"

	"github.com/mapmesh/mapmesh/internal/server"
)

// TestListNamespacesFilters: TYPE (EQ, IN, BEGINS_WITH), NAME and HTTP_NAME
// (EQ, BEGINS_WITH), RESOURCE_OWNER; filters are ANDed.
func TestListNamespacesFilters(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	httpA, _ := createHTTPNamespace(t, c, "alpha-http")
	httpB, _ := createHTTPNamespace(t, c, "beta-http")
	privA, _ := createPrivateNamespace(t, c, "alpha.internal", "vpc-1")
	privA2, _ := createPrivateNamespace(t, c, "alpha.internal", "vpc-2") // suffixed HttpName
	pubA, _ := createPublicNamespace(t, c, "alpha.example.com")
	suffixed := httpName(getNamespace(t, c, privA2))

	f := func(name types.NamespaceFilterName, cond types.FilterCondition, vals ...string) types.NamespaceFilter {
		return types.NamespaceFilter{Name: name, Condition: cond, Values: vals}
	}
	all := []string{httpA, httpB, privA, privA2, pubA}
	tests := []struct {
		name    string
		filters []types.NamespaceFilter
		want    []string
	}{
		{"no filter", nil, all},
		{"TYPE EQ HTTP", []types.NamespaceFilter{f("TYPE", "EQ", "HTTP")}, []string{httpA, httpB}},
		{"TYPE default condition", []types.NamespaceFilter{f("TYPE", "", "DNS_PUBLIC")}, []string{pubA}},
		{"TYPE IN", []types.NamespaceFilter{f("TYPE", "IN", "DNS_PRIVATE", "DNS_PUBLIC")}, []string{privA, privA2, pubA}},
		{"TYPE BEGINS_WITH", []types.NamespaceFilter{f("TYPE", "BEGINS_WITH", "DNS")}, []string{privA, privA2, pubA}},
		{"NAME EQ", []types.NamespaceFilter{f("NAME", "EQ", "alpha.internal")}, []string{privA, privA2}},
		{"NAME BEGINS_WITH", []types.NamespaceFilter{f("NAME", "BEGINS_WITH", "alpha")}, []string{httpA, privA, privA2, pubA}},
		{"NAME EQ no match", []types.NamespaceFilter{f("NAME", "EQ", "alpha")}, nil},
		{"HTTP_NAME EQ", []types.NamespaceFilter{f("HTTP_NAME", "EQ", "alpha.internal")}, []string{privA}},
		{"HTTP_NAME EQ suffixed", []types.NamespaceFilter{f("HTTP_NAME", "EQ", suffixed)}, []string{privA2}},
		{"HTTP_NAME BEGINS_WITH", []types.NamespaceFilter{f("HTTP_NAME", "BEGINS_WITH", "beta")}, []string{httpB}},
		{"RESOURCE_OWNER SELF", []types.NamespaceFilter{f("RESOURCE_OWNER", "EQ", "SELF")}, all},
		{"RESOURCE_OWNER OTHER_ACCOUNTS", []types.NamespaceFilter{f("RESOURCE_OWNER", "EQ", "OTHER_ACCOUNTS")}, nil},
		{"TYPE and NAME", []types.NamespaceFilter{f("TYPE", "EQ", "DNS_PRIVATE"), f("NAME", "BEGINS_WITH", "alpha")}, []string{privA, privA2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := c.ListNamespaces(bg, &sd.ListNamespacesInput{Filters: tc.filters})
			if err != nil {
				t.Fatalf("ListNamespaces(%v) = %v", tc.filters, err)
			}
			var got []string
			for _, ns := range out.Namespaces {
				got = append(got, *ns.Id)
			}
			if d := diff(sorted(tc.want), sorted(got), nilMapIsEmpty); d != "" {
				t.Errorf("ListNamespaces (-want +got):\n%s", d)
			}
		})
	}
	bad := []struct {
		name    string
		filters []types.NamespaceFilter
	}{
		{"TYPE EQ with two values", []types.NamespaceFilter{f("TYPE", "EQ", "HTTP", "DNS_PUBLIC")}},
		{"NAME BETWEEN", []types.NamespaceFilter{f("NAME", "BETWEEN", "a", "b")}},
		{"no values", []types.NamespaceFilter{{Name: "NAME", Condition: "EQ", Values: []string{}}}},
		{"RESOURCE_OWNER bogus", []types.NamespaceFilter{f("RESOURCE_OWNER", "EQ", "EVERYONE")}},
		{"unknown filter name", []types.NamespaceFilter{f("COLOR", "EQ", "red")}},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.ListNamespaces(bg, &sd.ListNamespacesInput{Filters: tc.filters})
			apiError(t, err, "InvalidInput")
		})
	}
}

// TestListServicesFilters: NAMESPACE_ID (ID or ARN) and RESOURCE_OWNER.
func TestListServicesFilters(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	account := newAccount()
	c := h.client(account, defaultRegion)
	ns1, _ := newNamespace(t, c, httpNS)
	ns2, _ := newNamespace(t, c, privateNS)
	a1, a2 := *httpService(t, c, ns1).Id, *httpService(t, c, ns1).Id
	b1 := *dnsService(t, c, ns2, "", types.RecordTypeA).Id
	f := func(name types.ServiceFilterName, cond types.FilterCondition, vals ...string) []types.ServiceFilter {
		return []types.ServiceFilter{{Name: name, Condition: cond, Values: vals}}
	}
	tests := []struct {
		name    string
		filters []types.ServiceFilter
		want    []string
	}{
		{"no filter", nil, []string{a1, a2, b1}},
		{"NAMESPACE_ID EQ", f("NAMESPACE_ID", "EQ", ns1), []string{a1, a2}},
		{"NAMESPACE_ID default condition", f("NAMESPACE_ID", "", ns2), []string{b1}},
		// ServiceFilter.Values: "Specify one namespace ID or ARN."
		{"NAMESPACE_ID as ARN", f("NAMESPACE_ID", "EQ", nsARN(defaultRegion, account, ns2)), []string{b1}},
		{"NAMESPACE_ID unknown", f("NAMESPACE_ID", "EQ", "ns-aaaaaaaaaaaaaaaa"), nil},
		{"RESOURCE_OWNER SELF", f("RESOURCE_OWNER", "EQ", "SELF"), []string{a1, a2, b1}},
		{"RESOURCE_OWNER OTHER_ACCOUNTS", f("RESOURCE_OWNER", "EQ", "OTHER_ACCOUNTS"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := c.ListServices(bg, &sd.ListServicesInput{Filters: tc.filters})
			if err != nil {
				t.Fatalf("ListServices(%v) = %v", tc.filters, err)
			}
			var got []string
			for _, s := range out.Services {
				got = append(got, *s.Id)
			}
			if d := diff(sorted(tc.want), sorted(got), nilMapIsEmpty); d != "" {
				t.Errorf("ListServices (-want +got):\n%s", d)
			}
		})
	}
	for _, tc := range []struct {
		name    string
		filters []types.ServiceFilter
	}{
		{"NAMESPACE_ID IN", f("NAMESPACE_ID", "IN", ns1, ns2)},
		{"NAMESPACE_ID two values", f("NAMESPACE_ID", "EQ", ns1, ns2)},
		{"NAMESPACE_ID BETWEEN", f("NAMESPACE_ID", "BETWEEN", ns1, ns2)},
	} {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.ListServices(bg, &sd.ListServicesInput{Filters: tc.filters})
			apiError(t, err, "InvalidInput")
		})
	}
}

// TestListOperationsFilters: NAMESPACE_ID, SERVICE_ID, STATUS (EQ, IN),
// TYPE (EQ, IN), UPDATE_DATE BETWEEN in seconds and in milliseconds.
func TestListOperationsFilters(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	begin := time.Now()
	ns1, createNS1 := createPrivateNamespace(t, c, "ops-one.internal", "vpc-1")
	ns2, createNS2 := createHTTPNamespace(t, c, "ops-two")
	failed, err := c.CreatePrivateDnsNamespace(bg, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String("ops-one.internal"), Vpc: aws.String("vpc-1")})
	if err != nil {
		t.Fatal(err)
	}
	failOp := *failed.OperationId
	upd, err := c.UpdatePrivateDnsNamespace(bg, &sd.UpdatePrivateDnsNamespaceInput{Id: aws.String(ns1), Namespace: &types.PrivateDnsNamespaceChange{Description: aws.String("d")}})
	if err != nil {
		t.Fatal(err)
	}
	updateNS1 := *upd.OperationId
	s := dnsService(t, c, ns1, "", types.RecordTypeA)
	us, err := c.UpdateService(bg, &sd.UpdateServiceInput{Id: s.Id, Service: &types.ServiceChange{DnsConfig: &types.DnsConfigChange{DnsRecords: records(10, types.RecordTypeA)}}})
	if err != nil {
		t.Fatal(err)
	}
	updateSvc := *us.OperationId
	time.Sleep(20 * time.Millisecond) // a gap the millisecond filter can split on
	split := time.Now()
	time.Sleep(5 * time.Millisecond)
	reg := register(t, c, *s.Id, "i-1", ipv4(1))
	dr, err := c.DeregisterInstance(bg, &sd.DeregisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("i-1")})
	if err != nil {
		t.Fatal(err)
	}
	dereg := *dr.OperationId
	end := time.Now()
	all := []string{createNS1, createNS2, failOp, updateNS1, updateSvc, reg, dereg}

	f := func(name types.OperationFilterName, cond types.FilterCondition, vals ...string) types.OperationFilter {
		return types.OperationFilter{Name: name, Condition: cond, Values: vals}
	}
	secs := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	millis := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	tests := []struct {
		name    string
		filters []types.OperationFilter
		// want must all be listed; notWant must not be.
		want, notWant []string
		// exact: the result is exactly want.
		exact bool
		// status/type every listed operation must have, if set.
		status types.OperationStatus
		typ    []types.OperationType
	}{
		{name: "no filter", want: all, exact: true},
		{name: "NAMESPACE_ID", filters: []types.OperationFilter{f("NAMESPACE_ID", "EQ", ns1)}, want: []string{createNS1, updateNS1}, notWant: []string{createNS2}},
		{name: "NAMESPACE_ID other", filters: []types.OperationFilter{f("NAMESPACE_ID", "", ns2)}, want: []string{createNS2}, notWant: []string{createNS1, updateNS1, updateSvc, reg, dereg}},
		{name: "SERVICE_ID", filters: []types.OperationFilter{f("SERVICE_ID", "EQ", *s.Id)}, want: []string{updateSvc, reg, dereg}, notWant: []string{createNS1, createNS2, updateNS1}},
		{name: "STATUS EQ FAIL", filters: []types.OperationFilter{f("STATUS", "EQ", "FAIL")}, want: []string{failOp}, exact: true, status: types.OperationStatusFail},
		{name: "STATUS EQ SUCCESS", filters: []types.OperationFilter{f("STATUS", "EQ", "SUCCESS")}, notWant: []string{failOp}, want: []string{createNS1, createNS2, updateNS1, updateSvc, reg, dereg}, exact: true},
		{name: "STATUS IN", filters: []types.OperationFilter{f("STATUS", "IN", "SUCCESS", "FAIL")}, want: all, exact: true},
		{name: "STATUS IN pending", filters: []types.OperationFilter{f("STATUS", "IN", "SUBMITTED", "PENDING")}, exact: true},
		{name: "TYPE EQ", filters: []types.OperationFilter{f("TYPE", "EQ", "REGISTER_INSTANCE")}, want: []string{reg}, exact: true},
		{name: "TYPE IN", filters: []types.OperationFilter{f("TYPE", "IN", "CREATE_NAMESPACE", "UPDATE_NAMESPACE")}, want: []string{createNS1, createNS2, failOp, updateNS1}, exact: true},
		{name: "TYPE and SERVICE_ID", filters: []types.OperationFilter{f("TYPE", "EQ", "DEREGISTER_INSTANCE"), f("SERVICE_ID", "EQ", *s.Id)}, want: []string{dereg}, exact: true},
		{name: "UPDATE_DATE seconds", filters: []types.OperationFilter{f("UPDATE_DATE", "BETWEEN", secs(begin.Add(-time.Second)), secs(end.Add(time.Second)))}, want: all, exact: true},
		{name: "UPDATE_DATE milliseconds", filters: []types.OperationFilter{f("UPDATE_DATE", "BETWEEN", millis(begin.Add(-time.Second)), millis(end.Add(time.Second)))}, want: all, exact: true},
		{name: "UPDATE_DATE milliseconds split", filters: []types.OperationFilter{f("UPDATE_DATE", "BETWEEN", millis(split), millis(end.Add(time.Second)))}, want: []string{reg, dereg}, exact: true},
		{name: "UPDATE_DATE in the past", filters: []types.OperationFilter{f("UPDATE_DATE", "BETWEEN", secs(begin.Add(-2*time.Hour)), secs(begin.Add(-time.Hour)))}, exact: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := listOperations(t, c, tc.filters)
			ids := make([]string, 0, len(got))
			for _, op := range got {
				ids = append(ids, *op.Id)
				if tc.status != "" && op.Status != tc.status {
					t.Errorf("operation %s Status = %s; want %s", *op.Id, op.Status, tc.status)
				}
			}
			if tc.exact {
				if d := diff(sorted(tc.want), sorted(ids), nilMapIsEmpty); d != "" {
					t.Errorf("ListOperations(%v) (-want +got):\n%s", tc.filters, d)
				}
			}
			for _, id := range tc.want {
				if !slices.Contains(ids, id) {
					t.Errorf("ListOperations(%v) lacks %s", tc.filters, id)
				}
			}
			for _, id := range tc.notWant {
				if slices.Contains(ids, id) {
					t.Errorf("ListOperations(%v) lists %s; want it filtered out", tc.filters, id)
				}
			}
		})
	}
	bad := []struct {
		name    string
		filters []types.OperationFilter
	}{
		{"UPDATE_DATE EQ", []types.OperationFilter{f("UPDATE_DATE", "EQ", secs(begin))}},
		{"UPDATE_DATE one value", []types.OperationFilter{f("UPDATE_DATE", "BETWEEN", secs(begin))}},
		{"UPDATE_DATE not a time", []types.OperationFilter{f("UPDATE_DATE", "BETWEEN", "yesterday", "today")}},
		{"STATUS unknown value", []types.OperationFilter{f("STATUS", "EQ", "DONE")}},
		{"STATUS EQ two values", []types.OperationFilter{f("STATUS", "EQ", "SUCCESS", "FAIL")}},
		{"TYPE BETWEEN", []types.OperationFilter{f("TYPE", "BETWEEN", "CREATE_NAMESPACE", "DELETE_NAMESPACE")}},
		{"TYPE unknown value", []types.OperationFilter{f("TYPE", "IN", "CREATE_SERVICE")}},
		{"NAMESPACE_ID IN", []types.OperationFilter{f("NAMESPACE_ID", "IN", ns1, ns2)}},
		{"SERVICE_ID two values", []types.OperationFilter{f("SERVICE_ID", "EQ", *s.Id, *s.Id)}},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.ListOperations(bg, &sd.ListOperationsInput{Filters: tc.filters})
			apiError(t, err, "InvalidInput")
		})
	}
}

// listOperations returns every operation (all pages) that matches filters.
func listOperations(t testing.TB, c *sd.Client, filters []types.OperationFilter) []types.OperationSummary {
	t.Helper()
	var out []types.OperationSummary
	p := sd.NewListOperationsPaginator(c, &sd.ListOperationsInput{Filters: filters})
	for p.HasMorePages() {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatalf("ListOperations = %v", err)
		}
		out = append(out, page.Operations...)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}
