package awsapi

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestStringRuleMatched: the strings a rule keeps as matched answer as the
// pattern does, whatever shares their slot, from many goroutines at once,
// and the rule keeps none longer than maxMatchedLen.
func TestStringRuleMatched(t *testing.T) {
	r := &StringRule{Min: -1, Max: -1, Pattern: MustPattern("^[a-z]+$"), PatternText: "^[a-z]+$"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				good := fmt.Sprintf("name%c%c%c", 'a'+i%26, 'a'+i/26%26, 'a'+g)
				bad := fmt.Sprintf("bad-%d", i)
				for range 2 { // the second time from the kept matches
					if got := r.Check(good); len(got) != 0 {
						t.Errorf("Check(%q) = %v; want no violation", good, got)
						return
					}
					if got := r.Check(bad); len(got) != 1 {
						t.Errorf("Check(%q) = %v; want the pattern's violation", bad, got)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	kept := 0
	for i := range r.matched {
		if p := r.matched[i].Load(); p != nil {
			kept++
			if !r.Pattern.MatchString(*p) {
				t.Errorf("kept %q, which does not match", *p)
			}
		}
	}
	if kept == 0 {
		t.Error("no match kept")
	}
	long := strings.Repeat("a", maxMatchedLen+1)
	for i := range r.matched {
		r.matched[i].Store(nil)
	}
	if got := r.Check(long); len(got) != 0 {
		t.Errorf("Check(long) = %v", got)
	}
	for i := range r.matched {
		if r.matched[i].Load() != nil {
			t.Errorf("a string of %d bytes was kept", len(long))
		}
	}
}
