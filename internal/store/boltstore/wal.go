package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// The write-ahead log. A batch becomes durable when its record is written
// to the WAL and fdatasync'ed: one sequential write and one flush of a file
// whose blocks already exist, instead of a bbolt commit's two flushes of
// scattered pages. bbolt is brought up to date later, in the background
// (checkpoint.go). There are two WAL files of a fixed size, written from
// the start and used in turn: after a checkpoint, the file not in use holds
// only records that bbolt has, so it can be overwritten.
//
// A record is
//
//	u32 payload length | u32 CRC-32C of the payload | payload
//	payload: u64 first revision | u64 last revision | u32 entries |
//	         entries of (u8 kind | u32 key length | key | u32 value length | value)
//
// with kind 1 = put (value = the stored form: createRev, modRev, bytes) and
// 2 = delete. It holds the net effect of the batch's transactions, which is
// all replay needs: the watch history is not persisted. Replay reads each
// file from its start while records are whole, their CRC matches and their
// revisions follow on from the previous record; the first record that fails
// is the end (a torn write never acknowledged, or an older cycle's record).

const (
	walPut    = 1
	walDelete = 2

	walHeader = 8 // length and CRC
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// walEntry is one key's change in a record; value nil means deleted.
type walEntry struct {
	key   string
	value []byte
}

// walRecord is a decoded record.
type walRecord struct {
	first, last int64
	entries     []walEntry
}

// encodeRecord appends the record of a batch to dst.
func encodeRecord(dst []byte, first, last int64, entries map[string][]byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, walHeader)...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(first))
	dst = binary.BigEndian.AppendUint64(dst, uint64(last))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(entries)))
	for k, v := range entries {
		kind := byte(walPut)
		if v == nil {
			kind = walDelete
		}
		dst = append(dst, kind)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(k)))
		dst = append(dst, k...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	}
	payload := dst[start+walHeader:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst
}

// decodeRecords returns the whole, valid records at the start of buf, in
// order, each following on from the one before.
func decodeRecords(buf []byte) []walRecord {
	var out []walRecord
	for len(buf) >= walHeader {
		n := int(binary.BigEndian.Uint32(buf))
		if n < 20 || n > len(buf)-walHeader {
			break
		}
		payload := buf[walHeader : walHeader+n]
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(buf[4:]) {
			break
		}
		r, ok := decodePayload(payload)
		if !ok || (len(out) > 0 && r.first != out[len(out)-1].last+1) {
			break
		}
		out = append(out, r)
		buf = buf[walHeader+n:]
	}
	return out
}

func decodePayload(p []byte) (walRecord, bool) {
	r := walRecord{first: int64(binary.BigEndian.Uint64(p)), last: int64(binary.BigEndian.Uint64(p[8:]))}
	count := int(binary.BigEndian.Uint32(p[16:]))
	p = p[20:]
	if r.first < 1 || r.last < r.first {
		return r, false
	}
	for range count {
		if len(p) < 5 {
			return r, false
		}
		kind, kl := p[0], int(binary.BigEndian.Uint32(p[1:]))
		p = p[5:]
		if kl > len(p) {
			return r, false
		}
		key := string(p[:kl])
		p = p[kl:]
		if len(p) < 4 {
			return r, false
		}
		vl := int(binary.BigEndian.Uint32(p))
		p = p[4:]
		if vl > len(p) {
			return r, false
		}
		var v []byte
		switch kind {
		case walPut:
			if vl < headerLen {
				return r, false
			}
			v = p[:vl:vl]
		case walDelete:
		default:
			return r, false
		}
		p = p[vl:]
		r.entries = append(r.entries, walEntry{key, v})
	}
	return r, len(p) == 0
}

// wal is the pair of log files. It is used by the committer goroutine only.
type wal struct {
	files  [2]*os.File
	filled [2]int64 // how much of each file is written (zeros at least)
	active int      // the file being appended to
	off    int64    // where the next record goes in it
	size   int64
}

// walGrowth is how much zeroed space is added to a file at a time.
const walGrowth = 4 << 20

// openWAL opens (creating if needed) the two files next to
// the database at dbPath, and returns the records of both that come after
// revision after, in revision order. It fails when the records do not
// follow on from after without a gap (a damaged log).
func openWAL(dbPath string, size int64, after int64) (*wal, []walRecord, error) {
	w := &wal{size: size}
	var recs []walRecord
	for i := range w.files {
		f, err := os.OpenFile(fmt.Sprintf("%s.wal.%d", dbPath, i), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			w.close()
			return nil, nil, err
		}
		w.files[i] = f
		buf, err := readFile(f)
		if err != nil {
			w.close()
			return nil, nil, err
		}
		for _, r := range decodeRecords(buf) {
			if r.last > after {
				recs = append(recs, r)
			}
		}
		w.filled[i] = int64(len(buf))
	}
	if err := syncDir(filepath.Dir(dbPath)); err != nil {
		w.close()
		return nil, nil, err
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].first < recs[j].first })
	next := after + 1
	for _, r := range recs {
		if r.first > next || r.last < next {
			w.close()
			return nil, nil, fmt.Errorf("write-ahead log has revisions %d-%d where %d was expected: %w", r.first, r.last, next, errDamagedWAL)
		}
		next = r.last + 1
	}
	return w, recs, nil
}

var errDamagedWAL = errors.New("damaged write-ahead log")

// readFile reads f from its start into a buffer of its size (io.ReadAll
// would grow one, copying the 32 MiB of a log file several times).
func readFile(f *os.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, fi.Size())
	n, err := io.ReadFull(f, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil // shorter than it was: what is there
	}
	return buf[:n], err
}

// zeroFill writes zeros from off to size and flushes them, so that later
// records overwrite existing blocks and fdatasync has no metadata to write.
func zeroFill(f *os.File, off, size int64) error {
	zeros := make([]byte, 1<<20)
	for off < size {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// fits reports whether a record of n bytes fits in the active file.
func (w *wal) fits(n int) bool { return w.off+int64(n) <= w.size }

// append writes rec at the end of the active file and flushes it. On error
// the offset does not move, so the next record overwrites what was written.
// The file grows by zeroed chunks ahead of the records (flushed once), so
// that flushing a record never has to write the file's metadata.
func (w *wal) append(rec []byte) error {
	f := w.files[w.active]
	if end := w.off + int64(len(rec)); end > w.filled[w.active] {
		to := min(w.size, max(end, w.filled[w.active]+walGrowth))
		if err := zeroFill(f, w.filled[w.active], to); err != nil {
			return err
		}
		w.filled[w.active] = to
	}
	if _, err := f.WriteAt(rec, w.off); err != nil {
		return err
	}
	if err := fdatasync(f); err != nil {
		return err
	}
	w.off += int64(len(rec))
	return nil
}

// switchFiles starts writing the other file from its beginning. The caller
// guarantees that every record in it is in bbolt.
func (w *wal) switchFiles() {
	w.active = 1 - w.active
	w.off = 0
}

func (w *wal) close() error {
	var first error
	for _, f := range w.files {
		if f != nil {
			if err := f.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}
