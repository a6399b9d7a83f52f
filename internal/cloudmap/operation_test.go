package cloudmap

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/store"
)

// TestOperationsInTheStore: operations are read from the store, not the
// view: they page in creation order across restarts, filters that match
// few of many return partial pages with a token to go on (never a page
// that reads everything), and the view holds none of them.
func TestOperationsInTheStore(t *testing.T) {
	e := newEnv(t, Config{Quotas: Quotas{InstancesPerService: 1 << 20, InstancesPerNamespace: 1 << 20}})
	_, web := e.httpService("ops", "web", false)
	_, api := e.httpService("ops2", "api", false)
	var want []string // the API service's operations, oldest first
	for i := range 30 {
		e.register(web, fmt.Sprint("w-", i), map[string]string{"k": "v"})
		if i%10 == 0 {
			r := must(e.b.RegisterInstance(e.ctx, &RegisterInstanceInput{ServiceID: &api, InstanceID: str(fmt.Sprint("a-", i)),
				Attributes: map[string]string{"k": "v"}}))
			want = append(want, *r.OperationID)
		}
	}
	e.restart()
	all := func(in *ListOperationsInput) (ids []string, pages int) {
		for {
			out := must(e.b.ListOperations(e.ctx, in))
			pages++
			for _, o := range out.Operations {
				ids = append(ids, *o.ID)
			}
			if out.NextToken == nil {
				return ids, pages
			}
			in.NextToken = out.NextToken
		}
	}
	everything, pages := all(&ListOperationsInput{MaxResults: int32ptr(7)})
	if len(everything) != 2+30+3 || pages != 5 {
		t.Fatalf("ListOperations in pages of 7: %d operations in %d pages; want 35 in 5", len(everything), pages)
	}
	var times []int64
	for _, id := range everything {
		op := must(e.b.GetOperation(e.ctx, &GetOperationInput{OperationID: &id})).Operation
		times = append(times, op.CreateDate.UnixMilli())
	}
	if !slices.IsSorted(times) {
		t.Errorf("ListOperations is not oldest first: %v", times)
	}

	filter := []OperationFilter{{Name: str("SERVICE_ID"), Values: []string{api}}}
	old := opScanBudget
	opScanBudget = 8 // a page reads at most 8 operations
	defer func() { opScanBudget = old }()
	got, pages := all(&ListOperationsInput{Filters: filter})
	if !slices.Equal(got, want) || pages < 35/8 {
		t.Errorf("SERVICE_ID filter with a scan budget of 8: %v in %d pages; want %v in at least %d", got, pages, want, 35/8)
	}

	_, pk := caller(e.ctx)
	if _, err := e.b.GetOperation(e.ctx, &GetOperationInput{OperationID: str("nonsense")}); code(err) != "OperationNotFound" {
		t.Errorf("GetOperation(nonsense) = %v; want OperationNotFound", err)
	}
	if _, err := e.b.ListOperations(e.ctx, &ListOperationsInput{NextToken: str("bad")}); code(err) != "InvalidInput" {
		t.Errorf("ListOperations with a bad token = %v; want InvalidInput", err)
	}
	page, more, err := e.b.OperationsPage(e.ctx, pk.account, pk.region, "", 10)
	if err != nil || len(page) != 10 || !more || *page[0].ID != everything[len(everything)-1] {
		t.Errorf("OperationsPage newest first = %d ops, more %v, %v; want 10 starting with the newest", len(page), more, err)
	}
}

// TestMigrateOps: operation and token records kept under the view's root
// by earlier versions move to their own root at start: operations keep
// answering, a retried request with an old token gets its old operation,
// and nothing is left under the old keys.
func TestMigrateOps(t *testing.T) {
	e := newEnv(t, Config{})
	_, svc := e.httpService("legacy", "web", false)
	_, pk := caller(e.ctx)
	now := time.Now().UnixMilli()
	id := strings.Repeat("a", 32) + "-" + strconv.FormatInt(now, 36)
	in := &RegisterInstanceInput{ServiceID: &svc, InstanceID: str("i-1"), Attributes: map[string]string{"k": "v"}}
	req := *in
	hash := requestHash(&req)
	idem := idemKey("RegisterInstance", svc, "old-token")
	op, _ := json.Marshal(&opRecord{V: 1, ID: id, Type: opRegisterInstance, Status: statusSuccess, CreateDate: now, UpdateDate: now,
		Targets: map[string]string{targetInstance: "i-1", targetService: svc}, Idem: idem, Hash: hash})
	svcIdem, _ := json.Marshal(&idemRecord{V: 1, Hash: "h", Result: svc, At: now})
	legacy := map[string][]byte{
		pk.key(kindOperation, opKeyTail(now, id)):                  op,
		pk.key(kindIdempotency, idem):                              nil,
		pk.key(kindIdempotency, idemKey("CreateService", "", "t")): svcIdem,
	}
	var ops []store.Op
	for k, v := range legacy {
		ops = append(ops, store.Put(k, v))
	}
	if _, err := e.st.Txn(e.ctx, nil, ops); err != nil {
		t.Fatal(err)
	}
	e.restart()
	got, err := e.b.GetOperation(e.ctx, &GetOperationInput{OperationID: &id})
	if err != nil || got.Operation.Targets[targetInstance] != "i-1" {
		t.Fatalf("GetOperation(migrated) = %v, %v", got, err)
	}
	in.CreatorRequestID = str("old-token")
	again, err := e.b.RegisterInstance(e.ctx, in)
	if err != nil || *again.OperationID != id {
		t.Errorf("retry with the old token = %v, %v; want operation %s", again, err, id)
	}
	for k := range legacy {
		if _, err := e.st.Get(e.ctx, k); err == nil {
			t.Errorf("%s is still there after the migration", k)
		}
	}
	if r, _ := e.b.readToken(e.ctx, pk, opToken{key: idemKey("CreateService", "", "t")}); r == nil || r.Result != svc {
		t.Errorf("CreateService token after migration = %+v", r)
	}
}

// TestTokenRace: racing requests that reuse one token for different
// instances: exactly one applies, the others get DuplicateRequest naming
// its operation; racing identical retries all get that one operation.
func TestTokenRace(t *testing.T) {
	e := newEnv(t, Config{})
	_, svc := e.httpService("race", "web", false)
	const n = 8
	type result struct {
		op  string
		err error
	}
	run := func(token string, instance func(int) string) []result {
		out := make([]result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := e.b.RegisterInstance(e.ctx, &RegisterInstanceInput{ServiceID: &svc, InstanceID: str(instance(i)),
					CreatorRequestID: str(token), Attributes: map[string]string{"k": "v"}})
				if err == nil {
					out[i].op = *r.OperationID
				}
				out[i].err = err
			}()
		}
		wg.Wait()
		return out
	}
	applied, dup := 0, 0
	for _, r := range run("shared", func(i int) string { return fmt.Sprint("i-", i) }) {
		switch {
		case r.err == nil:
			applied++
		case code(r.err) == "DuplicateRequest":
			dup++
		default:
			t.Errorf("RegisterInstance = %v; want success or DuplicateRequest", r.err)
		}
	}
	if applied != 1 || dup != n-1 {
		t.Errorf("one token, %d instances: %d applied, %d DuplicateRequest; want 1 and %d", n, applied, dup, n-1)
	}
	ops := map[string]bool{}
	for _, r := range run("retry", func(int) string { return "same" }) {
		if r.err != nil {
			t.Errorf("identical retry = %v", r.err)
		}
		ops[r.op] = true
	}
	if len(ops) != 1 {
		t.Errorf("identical retries answered with %d operations; want 1", len(ops))
	}
	if got := must(e.b.ListInstances(e.ctx, &ListInstancesInput{ServiceID: &svc})); len(got.Instances) != 2 {
		t.Errorf("%d instances after the races; want 2", len(got.Instances))
	}
}
