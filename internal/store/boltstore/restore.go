package boltstore

import (
	"errors"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"

	"github.com/mapmesh/mapmesh/internal/store"
)

// restoreBatch is how many keys one bbolt transaction of Restore writes.
const restoreBatch = 10_000

// Restore creates the store file at path from a snapshot: every key with
// its revisions, and the snapshot's revision as the store's. The file must
// not exist; on any error nothing is left at path.
func Restore(path string, sr *store.SnapshotReader) (err error) {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("boltstore: restore: %s exists", path)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: DefaultLockTimeout, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		return fmt.Errorf("boltstore: restore: %w", err)
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("boltstore: restore: %w", cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	if _, err := initDB(db); err != nil {
		return fmt.Errorf("boltstore: restore: %w", err)
	}
	for done := false; !done; {
		err := db.Update(func(tx *bolt.Tx) error {
			kvb := tx.Bucket(kvBucket)
			for range restoreBatch {
				kv, ok, err := sr.Next()
				if err != nil {
					return err
				}
				if !ok {
					done = true
					return tx.Bucket(metaBucket).Put(revKey, encodeRev(sr.Header.Revision))
				}
				if err := kvb.Put([]byte(kv.Key), encodeValue(kv.CreateRevision, kv.ModRevision, kv.Value)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("boltstore: restore: %w", err)
		}
	}
	return nil
}
