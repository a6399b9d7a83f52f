//go:build e2e

package system

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
)

// TestKill9MixedLoad: rounds of the mixed write load on both APIs (and a
// writer that creates and deletes namespaces with a service in each), a
// SIGKILL at a random moment, and a restart on the same data directory.
// After each restart every acknowledged write on either API is there and
// nothing is half-applied: instances have the attributes and health they
// were given, virtual nodes and the route their spec and version, every
// acknowledged operation exists, every instance has its registration's
// operation, no service outlives its namespace, counts and discovery
// agree with the listings. A write in flight at the kill may or may not
// be there, whole. Before each kill, no call may have hung.
func TestKill9MixedLoad(t *testing.T) {
	rounds := 3
	if os.Getenv("MAPMESH_SOAK") != "" {
		rounds = 10
	}
	p := start(t, config{dataDir: t.TempDir(), args: []string{"--health-interval", "1s", "--health-allowed-cidrs", "127.0.0.0/8", "--quota-namespaces", "100000"}})
	sdc, amc := p.clients()
	w := setupWorld(t, sdc, amc)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	nsw := &nsWriter{pairs: map[string]*nsPair{}}
	for round := range rounds {
		l := newLedger()
		ld := &load{w: w, sd: sdc, am: amc, l: l, ctx: context.Background(), seed: seed + uint64(round)}
		stop := ld.run(3, 3, 1)
		var nsDone sync.WaitGroup
		nsStop := make(chan struct{})
		nsDone.Go(func() { nsw.run(ld, round, nsStop) })

		loadFor := time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))
		began := time.Now()
		for time.Since(began) < loadFor && l.failedCount() == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		// A call that has waited for a while is waited for, up to
		// callTimeout: a hang is a failure, not a write in flight.
		if op, age := l.oldest(); age > 2*time.Second {
			t.Logf("round %d: %s in flight for %v before the kill; waiting up to %v for it", round, op, age.Round(time.Millisecond), callTimeout)
		}
		for _, age := l.oldest(); age > 2*time.Second && l.failedCount() == 0; _, age = l.oldest() {
			time.Sleep(100 * time.Millisecond)
		}
		if l.failedCount() > 0 {
			t.Fatalf("round %d, before the kill: %s\nafterwards: %s", round, l.summary(), probe(sdc, amc))
		}
		l.dying.Store(true)
		p.kill()
		close(nsStop)
		stop()
		nsDone.Wait()
		if l.failedCount() > 0 {
			t.Fatalf("round %d: %s", round, l.summary())
		}
		t.Logf("round %d: SIGKILL after %v: %s", round, time.Since(began).Round(time.Millisecond), l.summary())

		p.restart()
		sdc, amc = p.clients()
		ld.sd, ld.am, ld.l = sdc, amc, newLedger()
		t.Run(fmt.Sprintf("round %d after restart", round), func(t *testing.T) {
			ld.compare(t, ld.read(t))
			ld.checkCounts(t)
			ld.checkOperations(t, round)
			checkRegistrations(t, ld)
			nsw.check(t, ld)
			ld.l.check(t)
		})
		if t.Failed() {
			t.FailNow()
		}
	}
}

// checkRegistrations: every instance present came with a REGISTER_INSTANCE
// operation naming it (written in the same transaction).
func checkRegistrations(t *testing.T, ld *load) {
	for _, svc := range []string{ld.w.webID, ld.w.dbID} {
		registered := map[string]bool{}
		ld.readCall(t, "ListOperations", func(ctx context.Context) error {
			pg := sd.NewListOperationsPaginator(ld.sd, &sd.ListOperationsInput{Filters: []sdtypes.OperationFilter{
				{Name: sdtypes.OperationFilterNameServiceId, Condition: sdtypes.FilterConditionEq, Values: []string{svc}},
				{Name: sdtypes.OperationFilterNameType, Condition: sdtypes.FilterConditionEq, Values: []string{"REGISTER_INSTANCE"}}}})
			for pg.HasMorePages() {
				out, err := pg.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, o := range out.Operations {
					g, err := ld.sd.GetOperation(ctx, &sd.GetOperationInput{OperationId: o.Id})
					if err != nil {
						return err
					}
					registered[g.Operation.Targets["INSTANCE"]] = true
				}
			}
			return nil
		})
		for _, in := range ld.instances(t, svc) {
			if !registered[*in.Id] {
				t.Errorf("instance %s/%s is present without a REGISTER_INSTANCE operation", svc, *in.Id)
			}
		}
	}
}

// nsWriter creates HTTP namespaces with a service in each, and deletes
// some (service first, as the API requires).
type nsWriter struct {
	mu    sync.Mutex // guards pairs
	pairs map[string]*nsPair
}

// nsPair is one namespace and its service, as acknowledged.
type nsPair struct {
	nsID, svcID string
	// stage: 1 namespace created, 2 service created, 3 service deleted,
	// 4 namespace deleted; uncertain: the next stage's call was in flight.
	stage     int
	uncertain bool
}

func (nw *nsWriter) run(ld *load, round int, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
		name := fmt.Sprintf("k%d-%d", round, i)
		pair := &nsPair{}
		nw.mu.Lock()
		nw.pairs[name] = pair
		nw.mu.Unlock()
		advance := func(op string, f func(ctx context.Context) error) bool {
			pair.uncertain = true
			if _, ok := ld.step(op, f); !ok {
				return false
			}
			pair.stage++
			pair.uncertain = false
			return true
		}
		if !advance("CreateHttpNamespace", func(ctx context.Context) error {
			out, err := ld.sd.CreateHttpNamespace(ctx, &sd.CreateHttpNamespaceInput{Name: aws.String(name)})
			if err != nil {
				return err
			}
			g, err := ld.sd.GetOperation(ctx, &sd.GetOperationInput{OperationId: out.OperationId})
			if err == nil {
				pair.nsID = g.Operation.Targets["NAMESPACE"]
			}
			return err
		}) {
			return
		}
		if !advance("CreateService", func(ctx context.Context) error {
			out, err := ld.sd.CreateService(ctx, &sd.CreateServiceInput{Name: aws.String("s"), NamespaceId: &pair.nsID})
			if err == nil {
				pair.svcID = *out.Service.Id
			}
			return err
		}) {
			return
		}
		if i%2 == 1 {
			continue
		}
		if !advance("DeleteService", func(ctx context.Context) error {
			_, err := ld.sd.DeleteService(ctx, &sd.DeleteServiceInput{Id: &pair.svcID})
			return err
		}) {
			return
		}
		if !advance("DeleteNamespace", func(ctx context.Context) error {
			_, err := ld.sd.DeleteNamespace(ctx, &sd.DeleteNamespaceInput{Id: &pair.nsID})
			return err
		}) {
			return
		}
	}
}

// check: every service's namespace exists; each pair is at its
// acknowledged stage (or the next one, when that call was in flight).
func (nw *nsWriter) check(t *testing.T, ld *load) {
	namespaces := map[string]string{} // by ID: name
	ld.readCall(t, "ListNamespaces", func(ctx context.Context) error {
		pg := sd.NewListNamespacesPaginator(ld.sd, &sd.ListNamespacesInput{})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, n := range out.Namespaces {
				namespaces[*n.Id] = *n.Name
			}
		}
		return nil
	})
	services := map[string]string{} // by ID: namespace ID
	ld.readCall(t, "ListServices", func(ctx context.Context) error {
		pg := sd.NewListServicesPaginator(ld.sd, &sd.ListServicesInput{})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, s := range out.Services {
				g, err := ld.sd.GetService(ctx, &sd.GetServiceInput{Id: s.Id})
				if err != nil {
					return err
				}
				services[*s.Id] = *g.Service.NamespaceId
			}
		}
		return nil
	})
	for id, ns := range services {
		if _, ok := namespaces[ns]; !ok {
			t.Errorf("service %s is in namespace %s, which does not exist", id, ns)
		}
	}
	byName := map[string]string{}
	for id, name := range namespaces {
		byName[name] = id
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for name, pr := range nw.pairs {
		nsID, nsThere := byName[name]
		_, svcThere := services[pr.svcID]
		// What each stage leaves: namespace there for stages 1-3,
		// service there for stage 2.
		stage := 0
		switch {
		case nsThere && svcThere && pr.svcID != "":
			stage = 2
		case nsThere && pr.stage >= 2:
			stage = 3
		case nsThere:
			stage = 1
		case pr.stage >= 3:
			stage = 4
		}
		if stage != pr.stage && !(pr.uncertain && stage == pr.stage+1) {
			t.Errorf("namespace %s (%s) and its service %q: found at stage %d (namespace there: %v, service there: %v); acknowledged stage %d (in flight: %v)",
				name, nsID, pr.svcID, stage, nsThere, svcThere, pr.stage, pr.uncertain)
		}
		// The next round starts from what is there.
		pr.stage, pr.uncertain = stage, false
		if nsThere {
			pr.nsID = nsID
		}
	}
}
