package conformance

import (
	"fmt"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"

	"github.com/mapmesh/mapmesh/internal/server"
)

// TestPagination walks every list operation with the SDK paginators,
// MaxResults 3 over 7 items: no page is larger than asked, every item comes
// exactly once, and a garbled NextToken is InvalidInput.
func TestPagination(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	const n, max = 7, 3

	// page fetches one page with token and returns its item IDs and the
	// next token.
	type pager func(c *sd.Client, max *int32, token *string) ([]string, *string, error)
	tests := []struct {
		name string
		// setup creates n items in the client's fresh account and returns
		// their IDs and a pager over them.
		setup func(t *testing.T, c *sd.Client) ([]string, pager)
	}{
		{"ListNamespaces", func(t *testing.T, c *sd.Client) ([]string, pager) {
			var ids []string
			for i := range n {
				id, _ := createHTTPNamespace(t, c, fmt.Sprintf("page-%d", i))
				ids = append(ids, id)
			}
			return ids, func(c *sd.Client, max *int32, token *string) ([]string, *string, error) {
				out, err := c.ListNamespaces(bg, &sd.ListNamespacesInput{MaxResults: max, NextToken: token})
				if err != nil {
					return nil, nil, err
				}
				var got []string
				for _, x := range out.Namespaces {
					got = append(got, *x.Id)
				}
				return got, out.NextToken, nil
			}
		}},
		{"ListServices", func(t *testing.T, c *sd.Client) ([]string, pager) {
			nsID, _ := newNamespace(t, c, httpNS)
			var ids []string
			for range n {
				ids = append(ids, *httpService(t, c, nsID).Id)
			}
			return ids, func(c *sd.Client, max *int32, token *string) ([]string, *string, error) {
				out, err := c.ListServices(bg, &sd.ListServicesInput{MaxResults: max, NextToken: token})
				if err != nil {
					return nil, nil, err
				}
				var got []string
				for _, x := range out.Services {
					got = append(got, *x.Id)
				}
				return got, out.NextToken, nil
			}
		}},
		{"ListInstances", func(t *testing.T, c *sd.Client) ([]string, pager) {
			nsID, _ := newNamespace(t, c, httpNS)
			s := httpService(t, c, nsID)
			ids := registerMany(t, c, *s.Id, "li", n, func(int) map[string]string { return map[string]string{} })
			return ids, func(c *sd.Client, max *int32, token *string) ([]string, *string, error) {
				out, err := c.ListInstances(bg, &sd.ListInstancesInput{ServiceId: s.Id, MaxResults: max, NextToken: token})
				if err != nil {
					return nil, nil, err
				}
				var got []string
				for _, x := range out.Instances {
					got = append(got, *x.Id)
				}
				return got, out.NextToken, nil
			}
		}},
		{"ListOperations", func(t *testing.T, c *sd.Client) ([]string, pager) {
			var ids []string
			for i := range n {
				_, op := createHTTPNamespace(t, c, fmt.Sprintf("ops-%d", i))
				ids = append(ids, op)
			}
			return ids, func(c *sd.Client, max *int32, token *string) ([]string, *string, error) {
				out, err := c.ListOperations(bg, &sd.ListOperationsInput{MaxResults: max, NextToken: token})
				if err != nil {
					return nil, nil, err
				}
				var got []string
				for _, x := range out.Operations {
					got = append(got, *x.Id)
				}
				return got, out.NextToken, nil
			}
		}},
		{"GetInstancesHealthStatus", func(t *testing.T, c *sd.Client) ([]string, pager) {
			nsID, _ := newNamespace(t, c, httpNS)
			s := httpService(t, c, nsID, func(in *sd.CreateServiceInput) { in.HealthCheckCustomConfig = &types.HealthCheckCustomConfig{} })
			ids := registerMany(t, c, *s.Id, "hs", n, func(int) map[string]string { return map[string]string{} })
			return ids, func(c *sd.Client, max *int32, token *string) ([]string, *string, error) {
				out, err := c.GetInstancesHealthStatus(bg, &sd.GetInstancesHealthStatusInput{ServiceId: s.Id, MaxResults: max, NextToken: token})
				if err != nil {
					return nil, nil, err
				}
				var got []string
				for id := range out.Status {
					got = append(got, id)
				}
				return got, out.NextToken, nil
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := h.account()
			want, page := tc.setup(t, c)

			seen := map[string]int{}
			pages := 0
			var token *string
			for {
				got, next, err := page(c, aws.Int32(max), token)
				if err != nil {
					t.Fatalf("%s page %d = %v", tc.name, pages+1, err)
				}
				pages++
				if len(got) > max {
					t.Errorf("page %d has %d items; want at most MaxResults %d", pages, len(got), max)
				}
				for _, id := range got {
					seen[id]++
				}
				if next == nil || *next == "" {
					break
				}
				if pages > n {
					t.Fatalf("still paging after %d pages", pages)
				}
				token = next
			}
			if pages < (n+max-1)/max {
				t.Errorf("pages = %d; want at least %d", pages, (n+max-1)/max)
			}
			var got []string
			for id, k := range seen {
				if k != 1 {
					t.Errorf("item %s came %d times; want once", id, k)
				}
				got = append(got, id)
			}
			sort.Strings(got)
			sort.Strings(want)
			if d := diff(want, got); d != "" {
				t.Errorf("items over all pages (-want +got):\n%s", d)
			}

			// Without MaxResults everything fits on one page (default 100).
			all, next, err := page(c, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != n || next != nil {
				t.Errorf("one default page = %d items, NextToken %v; want %d and none", len(all), aws.ToString(next), n)
			}

			for _, bad := range []string{"garbage", "bm90LWEtdG9rZW4", "%%%"} {
				_, _, err := page(c, aws.Int32(max), aws.String(bad))
				apiError(t, err, "InvalidInput")
			}
			for _, bad := range []int32{0, 101} {
				_, _, err := page(c, aws.Int32(bad), nil)
				apiError(t, err, "InvalidInput")
			}
		})
	}
}

// TestPaginators: the SDK's generated paginators walk every list operation
// to the end.
func TestPaginators(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	c := h.account()
	var nsIDs []string
	for i := range 5 {
		id, _ := createHTTPNamespace(t, c, fmt.Sprintf("pg-%d", i))
		nsIDs = append(nsIDs, id)
	}
	var svcIDs []string
	for range 5 {
		svcIDs = append(svcIDs, *httpService(t, c, nsIDs[0]).Id)
	}
	instIDs := registerMany(t, c, svcIDs[0], "pi", 5, func(int) map[string]string { return map[string]string{} })
	limit := aws.Int32(2)

	var gotNS []string
	for p := sd.NewListNamespacesPaginator(c, &sd.ListNamespacesInput{MaxResults: limit}); p.HasMorePages(); {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page.Namespaces {
			gotNS = append(gotNS, *x.Id)
		}
	}
	var gotSvc []string
	for p := sd.NewListServicesPaginator(c, &sd.ListServicesInput{MaxResults: limit}); p.HasMorePages(); {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page.Services {
			gotSvc = append(gotSvc, *x.Id)
		}
	}
	var gotInst []string
	for p := sd.NewListInstancesPaginator(c, &sd.ListInstancesInput{ServiceId: aws.String(svcIDs[0]), MaxResults: limit}); p.HasMorePages(); {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page.Instances {
			gotInst = append(gotInst, *x.Id)
		}
	}
	nOps := 0
	for p := sd.NewListOperationsPaginator(c, &sd.ListOperationsInput{MaxResults: limit}); p.HasMorePages(); {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		nOps += len(page.Operations)
	}
	for _, tc := range []struct {
		name      string
		want, got []string
	}{{"namespaces", nsIDs, gotNS}, {"services", svcIDs, gotSvc}, {"instances", instIDs, gotInst}} {
		sort.Strings(tc.want)
		sort.Strings(tc.got)
		if d := diff(tc.want, tc.got); d != "" {
			t.Errorf("%s over all pages (-want +got):\n%s", tc.name, d)
		}
	}
	if nOps != 5+5 { // five namespace creates, five registrations
		t.Errorf("operations over all pages = %d; want 10", nOps)
	}
}
