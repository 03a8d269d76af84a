package snapshot

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"authrim/persistence"
)

// Source reads every record of a store as it was at one moment (etcd: at
// one revision), in bucket then key order.
type Source interface {
	Export(ctx context.Context, fn func(bucket persistence.Bucket, key string, value []byte) error) (revision int64, err error)
}

// Exported is the backup of a store without a file of its own (etcd): the
// records are written into a new authrim.db in Dir, which is streamed and
// removed. Dir should be the node's storage.dir: the file holds the same
// secrets as the store (sealed keys, sessions) and is created 0600.
type Exported struct {
	Source Source
	Dir    string
	// Timeout bounds reading the store (0: 10 minutes).
	Timeout time.Duration
}

// commitEvery bounds one write transaction of Build.
const commitEvery = 10000

// WriteTo implements the admin API's Snapshotter.
func (e Exported) WriteTo(w io.Writer) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmp0(e.Timeout, 10*time.Minute))
	defer cancel()
	path, _, err := Build(ctx, e.Dir, e.Source)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	return io.Copy(w, f)
}

func cmp0(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Build writes src's records into a new authrim.db-shaped file in dir
// (mode 0600; every declared bucket, as bbolt.Open lays them out) and
// returns its path and the revision it holds. The caller removes it.
func Build(ctx context.Context, dir string, src Source) (path string, rev int64, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, fmt.Errorf("snapshot: %w", err)
	}
	f, err := os.CreateTemp(dir, "backup-*.tmp")
	if err != nil {
		return "", 0, fmt.Errorf("snapshot: %w", err)
	}
	path = f.Name()
	_ = f.Chmod(0o600)
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(path)
			path = ""
		}
	}()
	// An empty file is initialised by bbolt. NoSync: the file is synced
	// once, at the end; it is worthless until then anyway.
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, Timeout: time.Second})
	if err != nil {
		return "", 0, fmt.Errorf("snapshot: %w", err)
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("snapshot: %w", cerr)
		}
	}()
	tx, err := db.Begin(true)
	if err != nil {
		return "", 0, fmt.Errorf("snapshot: %w", err)
	}
	defer func() {
		if tx != nil {
			_ = tx.Rollback()
		}
	}()
	for _, spec := range persistence.Buckets() {
		if _, err := tx.CreateBucket([]byte(spec.Name)); err != nil {
			return "", 0, fmt.Errorf("snapshot: bucket %q: %w", spec.Name, err)
		}
	}
	n := 0
	rev, err = src.Export(ctx, func(bucket persistence.Bucket, key string, value []byte) error {
		if err := bucket.Check(); err != nil {
			return err
		}
		if n > 0 && n%commitEvery == 0 {
			if err := tx.Commit(); err != nil {
				return err
			}
			var err error
			if tx, err = db.Begin(true); err != nil {
				tx = nil
				return err
			}
		}
		n++
		b := tx.Bucket([]byte(bucket))
		// Keys arrive in order: full pages make the file compact.
		b.FillPercent = 1.0
		// bbolt keeps the slices until the commit; the caller's value
		// is only valid during this call.
		return b.Put([]byte(key), append([]byte(nil), value...))
	})
	if err != nil {
		return "", 0, fmt.Errorf("snapshot: read the store: %w", err)
	}
	err = tx.Commit()
	tx = nil
	if err != nil {
		return "", 0, fmt.Errorf("snapshot: %w", err)
	}
	if err := db.Sync(); err != nil {
		return "", 0, fmt.Errorf("snapshot: %w", err)
	}
	return path, rev, nil
}
