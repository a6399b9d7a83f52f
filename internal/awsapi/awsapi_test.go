package awsapi

import (
	"regexp"
	"sync"
	"testing"
)

// TestNewRequestID: request IDs are version 4 UUIDs, and distinct across
// goroutines (they come from per-thread generators).
func TestNewRequestID(t *testing.T) {
	const goroutines, each = 4, 25_000
	ids := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				ids[g] = append(ids[g], NewRequestID())
			}
		}()
	}
	wg.Wait()
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := make(map[string]bool, goroutines*each)
	for _, l := range ids {
		for _, id := range l {
			if !uuid.MatchString(id) {
				t.Fatalf("NewRequestID() = %q; want a version 4 UUID", id)
			}
			if seen[id] {
				t.Fatalf("NewRequestID() gave %q twice", id)
			}
			seen[id] = true
		}
	}
}
