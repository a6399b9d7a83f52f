package cloudmap

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/store"
)

// laggingStore is a store.Store whose watches hold their events while
// held: a Backend on it has not yet seen the other writers' transactions,
// as a server of a cluster whose watch lags. A Txn that conflicts lets the
// events through (the Backend then waits for them).
type laggingStore struct {
	store.Store

	mu      sync.Mutex // guards held
	held    bool
	release chan struct{} // closed when held ends
}

func (s *laggingStore) hold() {
	s.mu.Lock()
	s.held, s.release = true, make(chan struct{})
	s.mu.Unlock()
}

func (s *laggingStore) letGo() {
	s.mu.Lock()
	if s.held {
		s.held = false
		close(s.release)
	}
	s.mu.Unlock()
}

func (s *laggingStore) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (store.TxnResult, error) {
	res, err := s.Store.Txn(ctx, conds, ops)
	if errors.Is(err, store.ErrConflict) {
		s.letGo()
	}
	return res, err
}

func (s *laggingStore) Watch(ctx context.Context, prefix string, fromRev int64, opts ...store.WatchOption) <-chan []store.Event {
	in := s.Store.Watch(ctx, prefix, fromRev, opts...)
	out := make(chan []store.Event)
	go func() {
		defer close(out)
		for evs := range in {
			s.mu.Lock()
			held, release := s.held, s.release
			s.mu.Unlock()
			if held {
				select {
				case <-release:
				case <-ctx.Done():
					return
				}
			}
			select {
			case out <- evs:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// TestRegisterInstanceTokenAcrossProcesses: two Backends on one store (two
// servers of a cluster). The second has not yet seen a registration the
// first made with a CreatorRequestId: that token reused for another
// instance through it is still DuplicateRequest naming the first
// operation, not a second registration; and the first request retried
// through it gets the first operation.
func TestRegisterInstanceTokenAcrossProcesses(t *testing.T) {
	e := newEnv(t, Config{})
	_, svcID := e.httpService("ns", "svc", false)
	lag := &laggingStore{Store: e.st}
	other, err := New(context.Background(), lag, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// other has loaded the service; from now on it sees nothing new.
	lag.hold()
	defer lag.letGo()
	first := &RegisterInstanceInput{ServiceID: &svcID, InstanceID: str("one"), Attributes: map[string]string{"k": "v"}, CreatorRequestID: str("tok")}
	op := must(e.b.RegisterInstance(e.ctx, first))

	second := *first
	second.InstanceID = str("two")
	_, err = other.RegisterInstance(e.ctx, &second)
	var ae *awsapi.Error
	if !errors.As(err, &ae) || ae.Code != "DuplicateRequest" {
		t.Fatalf("RegisterInstance two with the token of one, on a Backend that had not seen one = %v; want DuplicateRequest", err)
	}
	if got := ae.Fields["DuplicateOperationId"]; got != *op.OperationID {
		t.Errorf("DuplicateOperationId = %v; want %s", got, *op.OperationID)
	}
	if _, err := e.b.GetInstance(e.ctx, &GetInstanceInput{ServiceID: &svcID, InstanceID: str("two")}); code(err) != "InstanceNotFound" {
		t.Errorf("GetInstance two = %v; want InstanceNotFound", err)
	}
	again := must(other.RegisterInstance(e.ctx, first))
	if *again.OperationID != *op.OperationID {
		t.Errorf("retry of one on the other Backend = operation %s; want %s", *again.OperationID, *op.OperationID)
	}
}
