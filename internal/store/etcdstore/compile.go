package etcdstore

import (
	"slices"
	"strings"

	"github.com/mapmesh/mapmesh/internal/store"
)

// write is one etcd operation of a compiled transaction, in store key space
// (without Options.Prefix).
type write struct {
	key string
	// put: write value at key. Otherwise delete key, or with ranged the
	// range [key, end); toEnd means the range has no upper bound (the
	// prefix it came from has no successor: "" or all 0xff bytes).
	put    bool
	value  []byte
	ranged bool
	end    string
	toEnd  bool
}

// compile turns ops, applied in order, into their net effect as etcd writes:
// at most one put per key, and no put inside a deleted key or range, which
// etcd rejects as "duplicate key given in txn request". The writes have the
// same effect on any state, and so the same events:
//
//   - a key whose last op is a put is written once, with its last value;
//   - a key put and then deleted, or deleted and then put, becomes a delete
//     or a put of the last value (a delete of a key that does not exist
//     changes nothing and yields no event, so "created and removed in one
//     transaction" yields none, as the contract wants);
//   - a DeletePrefix removes the puts before it under the prefix and becomes
//     a delete of the prefix's range, split around the keys put after it
//     ([p, k1), [k1+"\x00", k2), ..., [kn+"\x00", end of p));
//   - a prefix inside another deleted prefix, and a single-key delete inside
//     a deleted range, are dropped.
//
// One difference remains, which etcd cannot express: a key that existed,
// is deleted and put again in the same transaction keeps its
// CreateRevision (boltstore gives it the transaction's revision).
//
// The writes come out puts first, in key order, then deletes in key order.
func compile(ops []store.Op) []write {
	puts := map[string][]byte{}
	dels := map[string]bool{}
	var prefixes []string
	for _, op := range ops {
		switch op.Type {
		case store.OpPut:
			puts[op.Key] = op.Value
			delete(dels, op.Key)
		case store.OpDelete:
			delete(puts, op.Key)
			dels[op.Key] = true
		case store.OpDeletePrefix:
			for k := range puts {
				if strings.HasPrefix(k, op.Key) {
					delete(puts, k)
				}
			}
			for k := range dels {
				if strings.HasPrefix(k, op.Key) {
					delete(dels, k)
				}
			}
			prefixes = append(prefixes, op.Key)
		}
	}

	// Keep the outermost prefixes. In sorted order the keys under a prefix
	// are contiguous, so a prefix is covered iff the last kept one covers it.
	slices.Sort(prefixes)
	kept := prefixes[:0]
	for _, p := range prefixes {
		if n := len(kept); n > 0 && strings.HasPrefix(p, kept[n-1]) {
			continue
		}
		kept = append(kept, p)
	}
	covered := func(k string) bool {
		for _, p := range kept {
			if strings.HasPrefix(k, p) {
				return true
			}
		}
		return false
	}

	putKeys := make([]string, 0, len(puts))
	for k := range puts {
		putKeys = append(putKeys, k)
	}
	slices.Sort(putKeys)
	out := make([]write, 0, len(puts)+len(dels)+len(kept))
	for _, k := range putKeys {
		out = append(out, write{key: k, put: true, value: puts[k]})
	}

	var delWrites []write
	for k := range dels {
		if !covered(k) {
			delWrites = append(delWrites, write{key: k})
		}
	}
	for _, p := range kept {
		// The put keys under p, in order: p's range is split around them.
		i, _ := slices.BinarySearch(putKeys, p)
		start := p
		for ; i < len(putKeys) && strings.HasPrefix(putKeys[i], p); i++ {
			k := putKeys[i]
			if start < k {
				delWrites = append(delWrites, write{key: start, ranged: true, end: k})
			}
			start = k + "\x00"
		}
		end, toEnd := prefixEnd(p)
		delWrites = append(delWrites, write{key: start, ranged: true, end: end, toEnd: toEnd})
	}
	slices.SortFunc(delWrites, func(a, b write) int { return strings.Compare(a.key, b.key) })
	return append(out, delWrites...)
}

// prefixEnd returns the smallest key greater than every key starting with p,
// or toEnd when there is none (p is empty or all 0xff bytes).
func prefixEnd(p string) (end string, toEnd bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), false
		}
	}
	return "", true
}
