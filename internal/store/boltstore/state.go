package boltstore

import (
	"bytes"
	"sort"
	"strings"

	"github.com/google/btree"
	bolt "go.etcd.io/bbolt"
)

// The store's state is layered. From the newest:
//
//	over   the writes made durable in the WAL since the last checkpoint began
//	flush  the writes a running checkpoint is copying into bbolt (nil if none)
//	bbolt  everything up to the last checkpoint
//
// Values are in the stored form (createRev, modRev, bytes); a nil value in
// over or flush is a deletion. over and flush are replaced, never mutated,
// while readers may hold them... except over, which the committer merges
// into under Store.ovMu; readers take ovMu for reading.
//
// Each layer is also kept in key order, for range reads (ListPage, Scan),
// as an ovTree: overTree and flushTree hold the same entries as over and
// flush. A published tree is never changed: the committer applies a batch
// to a copy-on-write clone of overTree (which shares the nodes it does not
// change) and publishes the clone with the batch, under ovMu. So a reader
// that took the trees under ovMu can walk them after releasing it, for as
// long as it likes, and its view does not move.

// ovItem is one entry of a layer, in the stored form (val nil: deleted).
type ovItem struct {
	key string
	val []byte
}

// ovTree is a layer in key order.
type ovTree = btree.BTreeG[ovItem]

// ovDegree is the B-tree degree of an ovTree.
const ovDegree = 32

func newOvTree() *ovTree {
	return btree.NewG(ovDegree, func(a, b ovItem) bool { return a.key < b.key })
}

// batchState is what the committer applies a batch against: the batch's own
// writes on top of the layers. The committer holds ovMu for reading while it
// uses one.
type batchState struct {
	pending map[string][]byte // this batch's writes; nil value = deleted
	over    map[string][]byte
	flush   map[string][]byte
	kvb     *bolt.Bucket // of a read transaction
}

// get returns the stored form of key, or nil.
func (st *batchState) get(key string) []byte {
	if v, ok := st.pending[key]; ok {
		return v
	}
	return lookup(key, st.over, st.flush, st.kvb)
}

// lookup reads key through the durable layers.
func lookup(key string, over, flush map[string][]byte, kvb *bolt.Bucket) []byte {
	if v, ok := over[key]; ok {
		return v
	}
	if v, ok := flush[key]; ok {
		return v
	}
	if kvb == nil {
		return nil
	}
	return kvb.Get([]byte(key))
}

func (st *batchState) put(key string, v []byte) { st.pending[key] = v }

func (st *batchState) del(key string) { st.pending[key] = nil }

// keys returns the live keys starting with prefix, across every layer.
func (st *batchState) keys(prefix string) []string {
	return mergedKeys(prefix, []map[string][]byte{st.pending, st.over, st.flush}, st.kvb)
}

// mergedKeys returns the live keys starting with prefix, sorted: the layers
// (newest first) decide for the keys they hold, bbolt for the rest.
func mergedKeys(prefix string, layers []map[string][]byte, kvb *bolt.Bucket) []string {
	decided := map[string]bool{}
	var out []string
	for _, l := range layers {
		for k, v := range l {
			if !strings.HasPrefix(k, prefix) || decided[k] {
				continue
			}
			decided[k] = true
			if v != nil {
				out = append(out, k)
			}
		}
	}
	if kvb != nil {
		p := []byte(prefix)
		c := kvb.Cursor()
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			if !decided[string(k)] {
				out = append(out, string(k))
			}
		}
	}
	sort.Strings(out)
	return out
}
