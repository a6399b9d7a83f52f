package store

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// A snapshot is every key of a store at one revision, in a portable file:
// JSON lines, so that it can be streamed, read by people and checked by
// tools. The first line is the header, then one line per key in key order,
// then the trailer with the SHA-256 of every byte before it:
//
//	{"mapmesh_snapshot":1,"revision":42,"created":"2026-12-02T10:00:00Z","keys":2}
//	{"k":"/cloudmap/...","c":3,"m":40,"v":"<base64>"}
//	{"end":true,"sha256":"<hex>"}

// SnapshotVersion is the format written in the header.
const SnapshotVersion = 1

// SnapshotHeader is the first line of a snapshot.
type SnapshotHeader struct {
	Version  int       `json:"mapmesh_snapshot"`
	Revision int64     `json:"revision"`
	Created  time.Time `json:"created"`
	Keys     int       `json:"keys"`
}

type snapshotEntry struct {
	Key    string `json:"k"`
	Create int64  `json:"c"`
	Mod    int64  `json:"m"`
	Value  []byte `json:"v"`
}

type snapshotTrailer struct {
	End    bool   `json:"end"`
	SHA256 string `json:"sha256"`
}

// WriteSnapshot writes the keys kvs, read at revision rev, as a snapshot.
func WriteSnapshot(w io.Writer, rev int64, kvs []KV) error {
	h := sha256.New()
	bw := bufio.NewWriter(io.MultiWriter(w, h))
	enc := json.NewEncoder(bw)
	if err := enc.Encode(SnapshotHeader{Version: SnapshotVersion, Revision: rev, Created: time.Now().UTC(), Keys: len(kvs)}); err != nil {
		return err
	}
	for _, kv := range kvs {
		if err := enc.Encode(snapshotEntry{kv.Key, kv.CreateRevision, kv.ModRevision, kv.Value}); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	b, _ := json.Marshal(snapshotTrailer{End: true, SHA256: hex.EncodeToString(h.Sum(nil))})
	_, err := w.Write(append(b, '\n'))
	return err
}

// ErrBadSnapshot is wrapped by the errors of ReadSnapshot for a file that
// is not a whole, intact snapshot.
var ErrBadSnapshot = errors.New("store: not a whole mapmesh snapshot")

// SnapshotReader reads a snapshot: Header first, then Next until it
// reports the end, which checks the trailer and the checksum.
type SnapshotReader struct {
	Header SnapshotHeader
	r      *bufio.Reader
	h      hash.Hash
	n      int
}

// ReadSnapshot reads the header of a snapshot.
func ReadSnapshot(r io.Reader) (*SnapshotReader, error) {
	sr := &SnapshotReader{r: bufio.NewReaderSize(r, 1<<20), h: sha256.New()}
	line, err := sr.line()
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(line, &sr.Header); err != nil || sr.Header.Version != SnapshotVersion {
		return nil, fmt.Errorf("%w: bad header", ErrBadSnapshot)
	}
	sr.h.Write(line)
	return sr, nil
}

func (sr *SnapshotReader) line() ([]byte, error) {
	line, err := sr.r.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	return line, nil
}

// Next returns the next key, or ok false after the last one once the
// trailer and checksum are verified.
func (sr *SnapshotReader) Next() (kv KV, ok bool, err error) {
	line, err := sr.line()
	if err != nil {
		return KV{}, false, err
	}
	var t snapshotTrailer
	if json.Unmarshal(line, &t) == nil && t.End {
		if got := hex.EncodeToString(sr.h.Sum(nil)); got != t.SHA256 {
			return KV{}, false, fmt.Errorf("%w: checksum %s, trailer says %s", ErrBadSnapshot, got, t.SHA256)
		}
		if sr.n != sr.Header.Keys {
			return KV{}, false, fmt.Errorf("%w: %d keys, header says %d", ErrBadSnapshot, sr.n, sr.Header.Keys)
		}
		return KV{}, false, nil
	}
	sr.h.Write(line)
	var e snapshotEntry
	if err := json.Unmarshal(line, &e); err != nil || e.Key == "" || e.Create < 1 || e.Mod < e.Create || e.Mod > sr.Header.Revision {
		return KV{}, false, fmt.Errorf("%w: bad entry %d", ErrBadSnapshot, sr.n+1)
	}
	sr.n++
	return KV{Key: e.Key, Value: e.Value, CreateRevision: e.Create, ModRevision: e.Mod}, true, nil
}
