package healthcheck

import (
	"container/heap"
	"context"
	"fmt"
	"time"
)

// lane is a queue of checks ordered by their next slot, dispatched by one
// goroutine with its own bound on probes in flight.
type lane struct {
	q    queue         // guarded by Checker.mu
	sem  chan struct{} // one token per probe in flight
	wake chan struct{} // capacity 1: the queue's head may have changed
}

func newLane(bound int) *lane {
	return &lane{sem: make(chan struct{}, bound), wake: make(chan struct{}, 1)}
}

// remove takes a queued check out of the lane. Called with Checker.mu held.
func (l *lane) remove(ch *check) {
	heap.Remove(&l.q, ch.idx)
	ch.idx = -1
}

// queue is a min-heap of checks by due time.
type queue []*check

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q queue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].idx, q[j].idx = i, j
}
func (q *queue) Push(x any) {
	ch := x.(*check)
	ch.idx = len(*q)
	*q = append(*q, ch)
}
func (q *queue) Pop() any {
	old := *q
	n := len(old)
	ch := old[n-1]
	old[n-1] = nil
	ch.idx = -1
	*q = old[:n-1]
	return ch
}

// queueLocked puts a check in a lane at its due time. Called with
// Checker.mu held.
func (c *Checker) queueLocked(l *lane, ch *check) {
	ch.lane = l
	heap.Push(&l.q, ch)
	if ch.idx == 0 {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// dispatchBatch bounds how many due checks dispatch takes off its queue at
// once, so that one waiting for a probe slot can still be stopped cheaply.
const dispatchBatch = 64

// dispatch starts the probes of a lane's checks as they fall due, in due
// order, never more at once than the lane's bound. It returns at Close.
func (c *Checker) dispatch(l *lane) {
	defer c.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	ready := make([]*check, 0, dispatchBatch)
	for {
		c.mu.Lock()
		now := time.Now()
		ready = ready[:0]
		for len(l.q) > 0 && !l.q[0].due.After(now) && len(ready) < dispatchBatch {
			ready = append(ready, heap.Pop(&l.q).(*check))
		}
		wait := time.Duration(-1)
		if len(ready) == 0 && len(l.q) > 0 {
			wait = l.q[0].due.Sub(now)
		}
		c.mu.Unlock()
		for _, ch := range ready {
			select {
			case l.sem <- struct{}{}:
			case <-c.ctx.Done():
				return
			}
			c.mu.Lock()
			if ch.stopped {
				c.mu.Unlock()
				<-l.sem
				continue
			}
			t, due := ch.t, ch.due
			c.mu.Unlock()
			c.wg.Add(1)
			go c.run(l, ch, t, due)
		}
		if len(ready) > 0 {
			continue
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-c.ctx.Done():
			return
		case <-l.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// run probes one check for its slot due, then counts the result, queues
// the check for its next slot and records a flip.
func (c *Checker) run(l *lane, ch *check, t target, due time.Time) {
	defer c.wg.Done()
	timeout := t.timeout(c.cfg.Timeout)
	start := time.Now()
	var err error
	if why := c.pol.refusal(t.Addr); why != "" {
		err = fmt.Errorf("%w: %s (%s)", errRefused, t.Addr, why)
	} else {
		ctx, cancel := context.WithTimeout(c.ctx, timeout)
		err = c.probe(ctx, t)
		cancel()
	}
	took := time.Since(start)
	<-l.sem
	if c.ctx.Err() != nil {
		return // closing: a cancelled probe is no result
	}
	c.probes.Add(1)
	if err != nil {
		c.failures.Add(1)
	}
	c.mu.Lock()
	if ch.stopped {
		c.mu.Unlock()
		return
	}
	ch.record(err)
	ch.slow = took >= timeout/2
	ch.due = c.nextDueLocked(ch, time.Now())
	next := c.fast
	if ch.slow {
		next = c.slow
	}
	c.queueLocked(next, ch)
	status, dirty := ch.status, ch.dirty
	c.mu.Unlock()
	if c.cfg.Observe != nil {
		c.cfg.Observe(Result{Account: ch.svc.account, Region: ch.svc.region, ServiceID: ch.svc.svcID, InstanceID: ch.inst,
			Type: t.Type, Target: t.Addr, Due: due, Start: start, Took: took, Err: err, Status: status})
	}
	if dirty {
		c.flush(ch)
	}
}

// nextDueLocked returns the check's next slot after the one that just ran:
// one interval later, or, after a new check's first probe, a random point
// between half an interval and one and a half later, which gives the check
// its phase. Slots already past (the probe or its wait outlasted the
// interval) are skipped, not queued up. Called with Checker.mu held.
func (c *Checker) nextDueLocked(ch *check, now time.Time) time.Time {
	iv := c.cfg.Interval
	next := ch.due.Add(iv)
	if ch.first {
		ch.first = false
		next = ch.due.Add(iv/2 + jitter(iv))
	}
	if next.After(now) {
		return next
	}
	missed := now.Sub(next)/iv + 1
	c.skipped.Add(uint64(missed))
	return next.Add(missed * iv)
}
