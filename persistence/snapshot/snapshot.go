// Package snapshot is the backup file of every backend: a complete
// authrim.db (bbolt) file holding the declared buckets of the store.
//
// One format for both backends: a bbolt node streams its own file (one
// read transaction); an etcd node reads every record at one revision and
// writes them into a new file of the same shape (Exported). A backup of
// either therefore restores into either: `authrim restore` puts it in
// place as a bbolt node's authrim.db, or leaves it as a seed that the
// first member of a new etcd cluster imports before anything else uses
// the store (persistence/etcd Seed). It also moves a single node onto a
// cluster: back the bbolt node up, seed the cluster with the file.
//
// etcd's own snapshot (Maintenance.Snapshot) is not the format because
// it restores only into etcd, only with etcdutl run on every member with
// the new cluster's membership, and brings along the old cluster's leases
// and grain ownerships; the records under Authrim's prefix read at one
// revision are the same consistent cut of the data, without them.
package snapshot

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
	"authrim/persistence"
)

// ErrNotABackup: the file is not a complete, consistent authrim backup.
var ErrNotABackup = errors.New("snapshot: not a usable backup")

// Info summarises a checked backup.
type Info struct {
	// SchemaVersion is the version of the records' shapes (0: the backup
	// predates the version record, so its records have version 1).
	SchemaVersion                  int
	Keys, Users, Clients, Sessions int
	Records                        int
}

func (i Info) String() string {
	v := "schema version " + strconv.Itoa(i.SchemaVersion)
	if i.SchemaVersion == 0 {
		v = "no schema version (version 1)"
	}
	return fmt.Sprintf("%d signing keys, %d users, %d registered clients, %d sessions, %d records, %s",
		i.Keys, i.Users, i.Clients, i.Sessions, i.Records, v)
}

// Check opens path read-only and checks that it is a complete (as long
// as its meta page says), consistent (bbolt's page check) authrim
// database: it holds the keys bucket, every key set decodes, it has only
// declared buckets, and its schema version is one this binary can read
// (a newer one is refused, wrapping persistence.ErrSchemaTooNew; an
// older one is migrated when a node starts on it).
func Check(path string) (Info, error) {
	var info Info
	fi, err := os.Stat(path)
	if err != nil {
		return info, err
	}
	if !fi.Mode().IsRegular() {
		return info, fmt.Errorf("%w: %s is not a regular file", ErrNotABackup, path)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return info, fmt.Errorf("%s is locked by another process", path)
		}
		return info, fmt.Errorf("%w: not a bbolt database: %w", ErrNotABackup, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		// Checked before any page is read: pages past the end of a
		// truncated file are mapped but not backed, and touching them
		// kills the process.
		if tx.Size() > fi.Size() {
			return fmt.Errorf("%w: truncated: %d bytes, the database needs %d", ErrNotABackup, fi.Size(), tx.Size())
		}
		// Drain every result: Check reads pages until it is done, which
		// must happen inside this transaction.
		var bad error
		for err := range tx.Check() {
			bad = cmp.Or(bad, err)
		}
		if bad != nil {
			return fmt.Errorf("%w: inconsistent: %w", ErrNotABackup, bad)
		}
		// The version first: a newer release's backup may hold buckets
		// this binary does not know, and the version says why.
		if meta := tx.Bucket([]byte(persistence.BucketMeta)); meta != nil {
			if raw := meta.Get([]byte(persistence.KeySchemaVersion)); raw != nil {
				v, err := strconv.Atoi(string(raw))
				if err != nil || v < 1 || strconv.Itoa(v) != string(raw) {
					return fmt.Errorf("%w: %w", ErrNotABackup, persistence.ErrSchemaVersion)
				}
				if v > persistence.SchemaVersion() {
					return fmt.Errorf("%w: the backup has schema version %d, this binary knows up to %d: restore it with a release that knows version %d",
						persistence.ErrSchemaTooNew, v, persistence.SchemaVersion(), v)
				}
				info.SchemaVersion = v
			}
		}
		keys := tx.Bucket([]byte(persistence.BucketKeys))
		if keys == nil {
			return fmt.Errorf("%w: no %q bucket: not an authrim database", ErrNotABackup, persistence.BucketKeys)
		}
		err := keys.ForEach(func(k, v []byte) error {
			var set messages.KeySet
			if err := proto.Unmarshal(v, &set); err != nil {
				return fmt.Errorf("%w: key set %q: %w", ErrNotABackup, k, err)
			}
			info.Keys += len(set.GetKeys())
			return nil
		})
		if err != nil {
			return err
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			bucket := persistence.Bucket(name)
			// A release whose migration retires a bucket must accept
			// it here in older backups (and drop it in Each) for them
			// to stay restorable.
			if !bucket.Declared() {
				return fmt.Errorf("%w: bucket %q is not one this release declares", ErrNotABackup, name)
			}
			n := b.Stats().KeyN
			info.Records += n
			switch bucket {
			case persistence.BucketUsers:
				info.Users = n
			case persistence.BucketClients:
				info.Clients = n
			case persistence.BucketSessions:
				info.Sessions = n
			}
			return nil
		})
	})
	return info, err
}

// Each calls fn with every record of a checked backup, bucket by bucket
// in declaration order and in key order within one, all in one read
// transaction. value is only valid during the call.
func Each(path string, fn func(bucket persistence.Bucket, key string, value []byte) error) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("snapshot: open %s: %w", path, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		for _, spec := range persistence.Buckets() {
			b := tx.Bucket([]byte(spec.Name))
			if b == nil {
				continue
			}
			err := b.ForEach(func(k, v []byte) error {
				if v == nil {
					return fmt.Errorf("%w: nested bucket %q in %s", ErrNotABackup, k, spec.Name)
				}
				return fn(spec.Name, string(k), v)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}
