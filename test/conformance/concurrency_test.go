package conformance

import (
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/smithy-go"

	"github.com/mapmesh/mapmesh/internal/server"
)

// race runs f n times at once and counts the error codes ("" for success).
func race(n int, f func(i int) error) map[string]int {
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f(i)
			code := ""
			if err != nil {
				code = err.Error()
				if ae, ok := errAs[smithy.APIError](err); ok {
					code = ae.ErrorCode()
				}
			}
			mu.Lock()
			counts[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return counts
}

// TestConcurrentCreates: uniqueness and quotas hold when requests race.
func TestConcurrentCreates(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{Quotas: smallQuotas})
	const n, rounds = 8, 3

	t.Run("one namespace name", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		got := race(n, func(i int) error {
			_, err := c.CreateHttpNamespace(bg, &sd.CreateHttpNamespaceInput{Name: aws.String("contended"), CreatorRequestId: aws.String(fmt.Sprint("tok-", i))})
			return err
		})
		if d := diff(map[string]int{"": 1, "NamespaceAlreadyExists": n - 1}, got); d != "" {
			t.Errorf("outcomes (-want +got):\n%s", d)
		}
		if k := countNamespaces(t, c); k != 1 {
			t.Errorf("namespaces = %d; want 1", k)
		}
	})
	t.Run("namespace quota", func(t *testing.T) {
		t.Parallel()
		for range rounds { // a race shows only when the requests interleave
			c := h.account()
			got := race(n, func(i int) error {
				_, err := c.CreateHttpNamespace(bg, &sd.CreateHttpNamespaceInput{Name: aws.String(fmt.Sprint("quota-", i))})
				return err
			})
			if d := diff(map[string]int{"": 2, "ResourceLimitExceeded": n - 2}, got); d != "" {
				t.Errorf("outcomes with a quota of 2 (-want +got):\n%s", d)
			}
		}
	})
	t.Run("one service name", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		nsID, _ := newNamespace(t, c, privateNS)
		got := race(n, func(i int) error {
			_, err := c.CreateService(bg, &sd.CreateServiceInput{Name: aws.String("contended"), NamespaceId: aws.String(nsID), CreatorRequestId: aws.String(fmt.Sprint("tok-", i))})
			return err
		})
		if d := diff(map[string]int{"": 1, "ServiceAlreadyExists": n - 1}, got); d != "" {
			t.Errorf("outcomes (-want +got):\n%s", d)
		}
		if k := aws.ToInt32(getNamespace(t, c, nsID).ServiceCount); k != 1 {
			t.Errorf("ServiceCount = %d; want 1", k)
		}
	})
	t.Run("service quota", func(t *testing.T) {
		t.Parallel()
		for range rounds { // a race shows only when the requests interleave
			c := h.account()
			nsID, _ := newNamespace(t, c, httpNS)
			got := race(n, func(i int) error {
				_, err := c.CreateService(bg, &sd.CreateServiceInput{Name: aws.String(fmt.Sprint("svc-", i)), NamespaceId: aws.String(nsID)})
				return err
			})
			if d := diff(map[string]int{"": 2, "ResourceLimitExceeded": n - 2}, got); d != "" {
				t.Errorf("outcomes with a quota of 2 (-want +got):\n%s", d)
			}
			if k := aws.ToInt32(getNamespace(t, c, nsID).ServiceCount); k != 2 {
				t.Errorf("ServiceCount = %d; want 2", k)
			}
		}
	})
	t.Run("instance quota", func(t *testing.T) {
		t.Parallel()
		for range rounds { // a race shows only when the requests interleave
			c := h.account()
			nsID, _ := newNamespace(t, c, httpNS)
			s := httpService(t, c, nsID)
			got := race(n, func(i int) error {
				_, err := c.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String(fmt.Sprint("i-", i)), Attributes: map[string]string{}})
				return err
			})
			if d := diff(map[string]int{"": 2, "ResourceLimitExceeded": n - 2}, got); d != "" {
				t.Errorf("outcomes with a quota of 2 (-want +got):\n%s", d)
			}
			if k := instanceCount(t, c, *s.Id); k != 2 {
				t.Errorf("InstanceCount = %d; want 2", k)
			}
		}
	})
	t.Run("delete namespace against create service", func(t *testing.T) {
		t.Parallel()
		c := start(t, server.Config{}).account()
		for round := range 5 {
			nsID, _ := newNamespace(t, c, httpNS)
			var svcErr, nsErr error
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, svcErr = c.CreateService(bg, &sd.CreateServiceInput{Name: aws.String("late"), NamespaceId: aws.String(nsID)})
			}()
			go func() {
				defer wg.Done()
				_, nsErr = c.DeleteNamespace(bg, &sd.DeleteNamespaceInput{Id: aws.String(nsID)})
			}()
			wg.Wait()
			// Either the service came first (the delete is ResourceInUse) or
			// the delete did (the service finds no namespace); never both.
			switch {
			case svcErr == nil && nsErr == nil:
				t.Errorf("round %d: both CreateService and DeleteNamespace succeeded; the service is orphaned", round)
			case svcErr == nil:
				apiError(t, nsErr, "ResourceInUse")
			case nsErr == nil:
				apiError(t, svcErr, "NamespaceNotFound")
			default:
				t.Errorf("round %d: both failed: %v; %v", round, svcErr, nsErr)
			}
		}
	})
}
