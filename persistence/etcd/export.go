package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"authrim/persistence"
)

// exportPageSize bounds one range read of Export (a variable: tests
// make pages small).
var exportPageSize int64 = 1000

// Export calls fn with every record of every declared bucket as of one
// revision (the first page's), in bucket then key order, and returns that
// revision: every page is read at it, so the records are one consistent
// cut of the store however long the export takes and whatever is written
// meanwhile. Grain ownerships and leases are not records and are left
// out. A revision compacted away during the export (auto-compaction keeps
// 5 minutes) fails the export; it can simply be run again.
func (s *Store) Export(ctx context.Context, fn func(bucket persistence.Bucket, key string, value []byte) error) (int64, error) {
	if s.state.closed.Load() {
		return 0, persistence.ErrClosed
	}
	from, end := s.prefix, clientv3.GetPrefixRangeEnd(s.prefix)
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(exportPageSize),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		var resp *clientv3.GetResponse
		err := retrying(ctx, func(ctx context.Context) (err error) {
			resp, err = s.cli.Get(ctx, from, opts...)
			return err
		})
		if err != nil {
			return rev, mapErr(ctx, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			bucket, key, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), s.prefix), "\x00")
			if !ok || !persistence.Bucket(bucket).Declared() {
				return rev, fmt.Errorf("etcd: export: %w: %q", persistence.ErrUnknownBucket, kv.Key)
			}
			if err := fn(persistence.Bucket(bucket), key, kv.Value); err != nil {
				return rev, err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// ErrNotEmpty: a seed was offered to a store that already holds records.
var ErrNotEmpty = errors.New("etcd: the store is not empty")

// SeedOwnership is the ownership a member holds while it imports a seed,
// so that one member of a new cluster imports it.
const SeedOwnership = "Schema/seed"

// seedBatch bounds one import transaction: etcd refuses more than 128
// operations (--max-txn-ops) or 1.5 MiB (--max-request-bytes) in one.
const (
	seedBatchOps   = 100
	seedBatchBytes = 512 << 10
)

// seedMark is the seed record ("<root>/seed"), outside the records so a
// backup of the restored store never carries it.
type seedMark struct {
	// ID names the seed (the backup file's SHA-256).
	ID   string `json:"id"`
	Done bool   `json:"done"`
}

// Seed imports a backup into an empty store, once per cluster: a new
// cluster's members may all start with the same seed; the first imports
// it under SeedOwnership (the others wait, then find it done). Records
// are written in batches, each conditional on still owning the import,
// between a mark that says the import began and one that says it ended:
// a member that dies half way leaves the mark, and the next start with
// the same seed imports again over the records already written (writing
// the same value twice is harmless); nothing else may use the store
// meanwhile (the node does not start without finishing the import).
//
// A store that already holds records (or was seeded from another
// backup) is refused with ErrNotEmpty and left alone. imported reports
// whether this call did the import (false: another member had).
func (l *Lease) Seed(ctx context.Context, id string, each func(fn func(bucket persistence.Bucket, key string, value []byte) error) error) (imported bool, err error) {
	if id == "" || each == nil {
		return false, fmt.Errorf("%w: seed needs an id and records", ErrInvalid)
	}
	o, err := l.Acquire(ctx, SeedOwnership)
	if err != nil {
		return false, fmt.Errorf("etcd: seed: take the import ownership: %w", err)
	}
	own := o.(*owned)
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = own.Release(rctx)
	}()
	s, cli := l.store, l.store.cli
	markKey := s.root + "seed"
	guard := clientv3.Compare(clientv3.Value(own.key), "=", own.token)

	resp, err := cli.Get(ctx, markKey)
	if err != nil {
		return false, mapErr(ctx, err)
	}
	if len(resp.Kvs) > 0 {
		var m seedMark
		if err := json.Unmarshal(resp.Kvs[0].Value, &m); err != nil {
			return false, fmt.Errorf("etcd: seed: unreadable mark %s: %w", markKey, err)
		}
		if m.ID != id {
			return false, fmt.Errorf("%w: it was seeded from another backup (%s)", ErrNotEmpty, m.ID)
		}
		if m.Done {
			return false, nil
		}
		// Resume an import that stopped half way.
	} else {
		count, err := cli.Get(ctx, s.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return false, mapErr(ctx, err)
		}
		if count.Count > 0 {
			return false, fmt.Errorf("%w: it holds %d records; a backup seeds only a new cluster", ErrNotEmpty, count.Count)
		}
		mark, _ := json.Marshal(seedMark{ID: id})
		r, err := cli.Txn(ctx).If(guard, clientv3.Compare(clientv3.CreateRevision(markKey), "=", 0)).
			Then(clientv3.OpPut(markKey, string(mark))).Commit()
		if err != nil {
			return false, mapErr(ctx, err)
		}
		if !r.Succeeded {
			return false, fmt.Errorf("%w: seed: the import ownership or the mark moved", persistence.ErrConflict)
		}
	}

	var ops []clientv3.Op
	size := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		var r *clientv3.TxnResponse
		err := retrying(ctx, func(ctx context.Context) (err error) {
			r, err = cli.Txn(ctx).If(guard).Then(ops...).Commit()
			return err
		})
		if err != nil {
			return mapErr(ctx, err)
		}
		if !r.Succeeded {
			return fmt.Errorf("%w: seed: the import ownership was lost", persistence.ErrFenced)
		}
		ops, size = ops[:0], 0
		return nil
	}
	err = each(func(bucket persistence.Bucket, key string, value []byte) error {
		if err := bucket.Check(); err != nil {
			return err
		}
		if key == "" {
			return fmt.Errorf("%w: empty key in %s", ErrInvalid, bucket)
		}
		k := s.keyOf(bucket, key)
		if len(ops) >= seedBatchOps || (len(ops) > 0 && size+len(k)+len(value) > seedBatchBytes) {
			if err := flush(); err != nil {
				return err
			}
		}
		ops = append(ops, clientv3.OpPut(k, string(value)))
		size += len(k) + len(value)
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return false, fmt.Errorf("etcd: seed: %w", err)
	}
	mark, _ := json.Marshal(seedMark{ID: id, Done: true})
	r, err := cli.Txn(ctx).If(guard).Then(clientv3.OpPut(markKey, string(mark))).Commit()
	if err != nil {
		return false, mapErr(ctx, err)
	}
	if !r.Succeeded {
		return false, fmt.Errorf("%w: seed: the import ownership was lost", persistence.ErrFenced)
	}
	return true, nil
}

// SeedUnfinished reports an import that began and did not end (its id):
// the store holds part of a backup, and only a member started with that
// backup's seed may finish it.
func (s *Store) SeedUnfinished(ctx context.Context) (string, bool, error) {
	resp, err := s.cli.Get(ctx, s.root+"seed")
	if err != nil {
		return "", false, mapErr(ctx, err)
	}
	if len(resp.Kvs) == 0 {
		return "", false, nil
	}
	var m seedMark
	if err := json.Unmarshal(resp.Kvs[0].Value, &m); err != nil {
		return "", false, fmt.Errorf("etcd: unreadable seed mark: %w", err)
	}
	return m.ID, !m.Done, nil
}
