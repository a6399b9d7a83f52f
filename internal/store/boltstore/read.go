package boltstore

import (
	"bytes"
	"context"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/mapmesh/mapmesh/internal/store"
)

// Range reads (List, ListPage, Scan) merge the layers of state.go in key
// order: the overlay trees and a bbolt cursor, each positioned with one
// seek, so that a page costs what it holds (plus the deletions it skips),
// not what the prefix holds.

// snapshot is one consistent view of every layer, at revision rev.
type snapshot struct {
	rev         int64
	over, flush *ovTree // flush is nil when no checkpoint runs
	tx          *bolt.Tx
}

// snapshot takes the layers and a bbolt read transaction together under
// ovMu (a checkpoint only ever adds to bbolt what is in flush, which the
// snapshot holds too). The caller must roll the transaction back.
func (s *Store) snapshot() (snapshot, error) {
	s.ovMu.RLock()
	defer s.ovMu.RUnlock()
	tx, err := s.db.Begin(false)
	if err != nil {
		return snapshot{}, err
	}
	return snapshot{rev: s.durable.Load(), over: s.overTree, flush: s.flushTree, tx: tx}, nil
}

// keyRange is the keys a range read visits: those under prefix, from from
// (inclusive) upward, or, reverse, from below before (exclusive; "" for no
// bound) downward.
type keyRange struct {
	prefix  string
	reverse bool
	from    string
	before  string
}

// newRange returns the range of the keys under prefix after after (before
// it, reverse); "" means from the first key (the last, reverse).
func newRange(prefix, after string, reverse bool) keyRange {
	r := keyRange{prefix: prefix, reverse: reverse}
	if !reverse {
		r.from = prefix
		if after != "" && after+"\x00" > prefix {
			r.from = after + "\x00" // the first key greater than after
		}
		return r
	}
	r.before = prefixEnd(prefix)
	if after != "" && (r.before == "" || after < r.before) {
		r.before = after
	}
	return r
}

// prefixEnd returns the first key greater than every key starting with
// prefix, or "" if there is none (prefix is empty or all 0xff).
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// first reports whether key a comes before key b in r's order.
func (r keyRange) first(a, b string) bool {
	if r.reverse {
		return a > b
	}
	return a < b
}

// treeCursor walks an ovTree over a range, in order, a chunk at a time:
// each chunk is one seek into the tree. The tree must not change.
type treeCursor struct {
	t       *ovTree
	r       keyRange
	buf     []ovItem
	i       int
	last    string // the last key read, once started
	started bool
	done    bool // nothing after buf
}

// treeChunk is how many entries a treeCursor reads per seek.
const treeChunk = 64

// peek returns the current entry, if any.
func (c *treeCursor) peek() (ovItem, bool) {
	if c.i == len(c.buf) && !c.done {
		c.fill()
	}
	if c.i == len(c.buf) {
		return ovItem{}, false
	}
	return c.buf[c.i], true
}

func (c *treeCursor) advance() { c.i++ }

func (c *treeCursor) fill() {
	c.buf, c.i = c.buf[:0], 0
	if c.t == nil || c.t.Len() == 0 {
		c.done = true
		return
	}
	collect := func(it ovItem) bool {
		if !strings.HasPrefix(it.key, c.r.prefix) {
			c.done = true
			return false
		}
		c.buf = append(c.buf, it)
		return len(c.buf) < treeChunk
	}
	if !c.r.reverse {
		from := c.r.from
		if c.started {
			from = c.last + "\x00"
		}
		c.t.AscendGreaterOrEqual(ovItem{key: from}, collect)
	} else {
		before := c.r.before
		if c.started {
			before = c.last
		}
		if before == "" {
			c.t.Descend(collect)
		} else {
			c.t.DescendLessOrEqual(ovItem{key: before}, func(it ovItem) bool {
				return it.key == before || collect(it)
			})
		}
	}
	if len(c.buf) < treeChunk {
		c.done = true
	}
	if len(c.buf) > 0 {
		c.started, c.last = true, c.buf[len(c.buf)-1].key
	}
}

// boltCursor walks the kv bucket over a range, in order. Its key and value
// belong to bbolt and are valid only until the next move.
type boltCursor struct {
	c    *bolt.Cursor
	r    keyRange
	k, v []byte // the current entry; k nil at the end
}

func (b *boltCursor) seek() {
	if !b.r.reverse {
		b.set(b.c.Seek([]byte(b.r.from)))
		return
	}
	if b.r.before == "" {
		b.set(b.c.Last())
		return
	}
	if k, _ := b.c.Seek([]byte(b.r.before)); k != nil {
		b.set(b.c.Prev()) // the last key before it, if any
		return
	}
	b.set(b.c.Last()) // every key is before it
}

func (b *boltCursor) advance() {
	if b.r.reverse {
		b.set(b.c.Prev())
	} else {
		b.set(b.c.Next())
	}
}

func (b *boltCursor) set(k, v []byte) {
	if k != nil && !bytes.HasPrefix(k, []byte(b.r.prefix)) {
		k, v = nil, nil
	}
	b.k, b.v = k, v
}

// merged walks every layer of a snapshot over a range, in order: a key
// the overlays hold is theirs to decide (over before flush), bbolt decides
// the rest.
type merged struct {
	r           keyRange
	over, flush treeCursor
	bolt        boltCursor
}

func (sn *snapshot) walk(r keyRange) *merged {
	m := &merged{
		r:     r,
		over:  treeCursor{t: sn.over, r: r},
		flush: treeCursor{t: sn.flush, r: r},
		bolt:  boltCursor{c: sn.tx.Bucket(kvBucket).Cursor(), r: r},
	}
	m.bolt.seek()
	return m
}

// next returns the next live key and its stored value (which may belong
// to bbolt: valid until the next call), or ok false at the end.
func (m *merged) next() (key string, val []byte, ok bool) {
	for {
		o, oOK := m.over.peek()
		f, fOK := m.flush.peek()
		// The first of the overlays' heads, over winning a tie.
		var top ovItem
		topOK := oOK || fOK
		switch {
		case oOK && fOK:
			top = o
			if m.r.first(f.key, o.key) {
				top = f
			}
		case oOK:
			top = o
		case fOK:
			top = f
		}
		if m.bolt.k != nil && (!topOK || m.r.first(string(m.bolt.k), top.key)) {
			key, val = string(m.bolt.k), m.bolt.v
			m.bolt.advance()
			return key, val, true
		}
		if !topOK {
			return "", nil, false
		}
		if oOK && o.key == top.key {
			m.over.advance()
		}
		if fOK && f.key == top.key {
			m.flush.advance()
		}
		if m.bolt.k != nil && string(m.bolt.k) == top.key {
			m.bolt.advance()
		}
		if top.val != nil {
			return top.key, top.val, true
		}
		// A deletion: it hides the key below, if any.
	}
}

// ListPage returns one page of the keys under prefix; see store.Store.
// It reads opts.PageLimit()+1 keys at most (and the deletions among them
// not yet checkpointed), however many the prefix holds.
func (s *Store) ListPage(ctx context.Context, prefix string, opts store.PageOptions) (store.Page, error) {
	if err := s.readable(ctx); err != nil {
		return store.Page{}, err
	}
	sn, err := s.snapshot()
	if err != nil {
		return store.Page{}, readErr("list page", err)
	}
	defer sn.tx.Rollback()
	limit := opts.PageLimit()
	page := store.Page{Rev: sn.rev, KVs: make([]store.KV, 0, min(limit, 128))}
	m := sn.walk(newRange(prefix, opts.After, opts.Reverse))
	for {
		k, v, ok := m.next()
		if !ok {
			break
		}
		if len(page.KVs) == limit {
			page.More = true
			break
		}
		s.noteRead(sn.tx, len(k)+len(v))
		kv, err := decodeKV(k, v)
		if err != nil {
			return store.Page{}, readErr("list page", err)
		}
		page.KVs = append(page.KVs, kv)
	}
	return page, nil
}

// Scan calls fn with every key under prefix in key order, from one
// snapshot, and returns its revision; see store.Store. The snapshot is a
// bbolt read transaction and the overlay trees, held until Scan returns;
// nothing is copied up front. A long read transaction keeps bbolt from
// reusing the pages freed while it runs (and from remapping a file that
// outgrows its mapping), so fn should not dawdle.
func (s *Store) Scan(ctx context.Context, prefix string, fn func(store.KV) error) (int64, error) {
	return s.scan(ctx, "scan", prefix, fn)
}

func (s *Store) scan(ctx context.Context, op, prefix string, fn func(store.KV) error) (int64, error) {
	if err := s.readable(ctx); err != nil {
		return 0, err
	}
	sn, err := s.snapshot()
	if err != nil {
		return 0, readErr(op, err)
	}
	defer sn.tx.Rollback()
	m := sn.walk(newRange(prefix, "", false))
	for {
		k, v, ok := m.next()
		if !ok {
			return sn.rev, nil
		}
		s.noteRead(sn.tx, len(k)+len(v))
		kv, err := decodeKV(k, v) // a copy: v belongs to bbolt
		if err != nil {
			return 0, readErr(op, err)
		}
		if err := fn(kv); err != nil {
			return 0, err
		}
		// Close waits for this read transaction to end.
		if err := s.readable(ctx); err != nil {
			return 0, err
		}
	}
}

// List returns the keys starting with prefix in key order, and the revision
// of the snapshot it read: Scan, collected.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	// Collected in chunks, then copied once into a slice of the exact
	// size: appending to one slice would copy it again at every growth,
	// which for a view's load of a million keys cost as much as the reads.
	const chunk = 4096
	var chunks [][]store.KV
	n := 0
	rev, err := s.scan(ctx, "list", prefix, func(kv store.KV) error {
		if n%chunk == 0 {
			chunks = append(chunks, make([]store.KV, 0, chunk))
		}
		chunks[len(chunks)-1] = append(chunks[len(chunks)-1], kv)
		n++
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if len(chunks) == 1 {
		return chunks[0], rev, nil
	}
	kvs := make([]store.KV, 0, n)
	for _, c := range chunks {
		kvs = append(kvs, c...)
	}
	return kvs, rev, nil
}
