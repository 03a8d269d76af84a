// Package etcd is the cluster store: a persistence.Backend on etcd (an
// etcd member embedded in each node, or an existing etcd cluster). Every
// acknowledged write is committed by a raft majority and fsynced.
//
// A Store may be fenced (see Session.Acquire): then every write also
// requires that an ownership key still holds this writer's token, in the
// same etcd transaction. A stale writer gets persistence.ErrFenced.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"authrim/persistence"
)

// ErrInvalid is returned for bad input (empty names, nil callbacks):
// caller bugs, never mistaken for answers about the data.
var ErrInvalid = errors.New("etcd: invalid argument")

const (
	// listPageSize bounds one range read of List.
	listPageSize = 256
	// maxUpdateRetries bounds optimistic retries of Update under
	// contention before it gives up with ErrConflict.
	maxUpdateRetries = 200
)

// Store is a persistence.Backend on etcd. Safe for concurrent use.
type Store struct {
	cli    *clientv3.Client
	root   string // "<root>/"
	prefix string // "<root>/d/"
	// guard, when set, is the ownership condition of a fenced view.
	guard *guard
	// shared by a Store and its fenced views.
	state *storeState
}

type storeState struct {
	closed  atomic.Bool
	onClose func() error
}

type guard struct {
	key   string
	token string
}

var _ persistence.Backend = (*Store)(nil)

// New returns a Store on cli, its keys under root (e.g. "authrim"): the
// records of the buckets declared in persistence/schema.go under
// "<root>/d/" (see keyOf), grain ownerships under "<root>/o/" (Lease).
// onClose, if set, runs once on Close (e.g. closing the client and an
// embedded member).
func New(cli *clientv3.Client, root string, onClose func() error) *Store {
	r := strings.TrimSuffix(root, "/") + "/"
	return &Store{cli: cli, root: r, prefix: r + "d/", state: &storeState{onClose: onClose}}
}

// Client is the etcd client the store uses.
func (s *Store) Client() *clientv3.Client { return s.cli }

// fenced returns a view of s whose writes require key == token.
func (s *Store) fenced(key, token string) *Store {
	c := *s
	c.guard = &guard{key: key, token: token}
	return &c
}

func (s *Store) check(ctx context.Context, bucket persistence.Bucket, key *string) error {
	if ctx == nil {
		return fmt.Errorf("%w: nil context", ErrInvalid)
	}
	if s.state.closed.Load() {
		return persistence.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := bucket.Check(); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	if key != nil && *key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	return nil
}

// keyOf is where bucket/key lives: "<root>/d/<bucket>\x00<key>". Declared
// bucket names never contain NUL (persistence checks that they are
// [a-z_]+), so no bucket's range holds another's keys.
func (s *Store) keyOf(bucket persistence.Bucket, key string) string {
	return s.prefix + string(bucket) + "\x00" + key
}

// mapErr turns client errors into the contract's: a cancelled or expired
// context stays recognisable with errors.Is.
func mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("etcd: %w (%v)", cerr, err)
	}
	return fmt.Errorf("etcd: %w", err)
}

// Get implements persistence.Backend.
func (s *Store) Get(ctx context.Context, bucket persistence.Bucket, key string) ([]byte, error) {
	if err := s.check(ctx, bucket, &key); err != nil {
		return nil, err
	}
	var resp *clientv3.GetResponse
	err := retrying(ctx, func(ctx context.Context) (err error) {
		resp, err = s.cli.Get(ctx, s.keyOf(bucket, key))
		return err
	})
	if err != nil {
		return nil, mapErr(ctx, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("%w: %s/%q", persistence.ErrNotFound, bucket, key)
	}
	return append([]byte{}, resp.Kvs[0].Value...), nil
}

// txn runs If(conds && guard) Then(then) Else(get owner). It reports
// whether the transaction succeeded; a failed guard is ErrFenced.
func (s *Store) txn(ctx context.Context, conds []clientv3.Cmp, then ...clientv3.Op) (bool, error) {
	var elseOps []clientv3.Op
	if s.guard != nil {
		conds = append(conds, clientv3.Compare(clientv3.Value(s.guard.key), "=", s.guard.token))
		elseOps = append(elseOps, clientv3.OpGet(s.guard.key))
	}
	resp, err := s.cli.Txn(ctx).If(conds...).Then(then...).Else(elseOps...).Commit()
	if err != nil {
		return false, err
	}
	if resp.Succeeded {
		return true, nil
	}
	if s.guard != nil {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 || string(kvs[0].Value) != s.guard.token {
			return false, fmt.Errorf("%w: ownership %s lost", persistence.ErrFenced, s.guard.key)
		}
	}
	return false, nil
}

// Create implements persistence.Backend.
func (s *Store) Create(ctx context.Context, bucket persistence.Bucket, key string, value []byte) error {
	if err := s.check(ctx, bucket, &key); err != nil {
		return err
	}
	k := s.keyOf(bucket, key)
	ok, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", 0)}, clientv3.OpPut(k, string(value)))
	if err != nil {
		return mapErr(ctx, err)
	}
	if !ok {
		return fmt.Errorf("%w: %s/%q exists", persistence.ErrConflict, bucket, key)
	}
	return nil
}

// Put implements persistence.Backend.
func (s *Store) Put(ctx context.Context, bucket persistence.Bucket, key string, value []byte) error {
	if err := s.check(ctx, bucket, &key); err != nil {
		return err
	}
	k := s.keyOf(bucket, key)
	// Writing the same value again is harmless, so an attempt caught in a
	// leader election is simply repeated.
	err := retrying(ctx, func(ctx context.Context) error {
		if s.guard == nil {
			_, err := s.cli.Put(ctx, k, string(value))
			return err
		}
		_, err := s.txn(ctx, nil, clientv3.OpPut(k, string(value)))
		return err
	})
	return mapErr(ctx, err)
}

// Delete implements persistence.Backend.
func (s *Store) Delete(ctx context.Context, bucket persistence.Bucket, key string) error {
	if err := s.check(ctx, bucket, &key); err != nil {
		return err
	}
	k := s.keyOf(bucket, key)
	var ok, ambiguous bool
	err := retrying(ctx, func(ctx context.Context) (err error) {
		ok, err = s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), ">", 0)}, clientv3.OpDelete(k))
		if transient(err) {
			ambiguous = true // it may have been applied
		}
		return err
	})
	if err != nil {
		return mapErr(ctx, err)
	}
	if !ok && !ambiguous {
		return fmt.Errorf("%w: %s/%q", persistence.ErrNotFound, bucket, key)
	}
	return nil
}

// Update implements persistence.Backend: read, fn, then a transaction
// conditional on the key's revision; a lost race retries with the new
// value.
func (s *Store) Update(ctx context.Context, bucket persistence.Bucket, key string, fn func(old []byte, exists bool) ([]byte, error)) error {
	if err := s.check(ctx, bucket, &key); err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("%w: nil update function", ErrInvalid)
	}
	k := s.keyOf(bucket, key)
	for attempt := 0; attempt < maxUpdateRetries; attempt++ {
		resp, err := s.cli.Get(ctx, k)
		if err != nil {
			return mapErr(ctx, err)
		}
		var old []byte
		var rev int64
		exists := len(resp.Kvs) > 0
		if exists {
			// Non-nil even when empty: nil from fn means delete.
			old, rev = append([]byte{}, resp.Kvs[0].Value...), resp.Kvs[0].ModRevision
		}
		next, err := fn(old, exists)
		if err != nil {
			return err
		}
		var cond clientv3.Cmp
		var op clientv3.Op
		switch {
		case next == nil && !exists:
			return nil
		case next == nil:
			cond, op = clientv3.Compare(clientv3.ModRevision(k), "=", rev), clientv3.OpDelete(k)
		case exists:
			cond, op = clientv3.Compare(clientv3.ModRevision(k), "=", rev), clientv3.OpPut(k, string(next))
		default:
			cond, op = clientv3.Compare(clientv3.CreateRevision(k), "=", 0), clientv3.OpPut(k, string(next))
		}
		ok, err := s.txn(ctx, []clientv3.Cmp{cond}, op)
		if err != nil {
			return mapErr(ctx, err)
		}
		if ok {
			return nil
		}
		if attempt > 10 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 100 * time.Microsecond):
			}
		}
	}
	return fmt.Errorf("%w: %s/%q: too much contention", persistence.ErrConflict, bucket, key)
}

// List implements persistence.Backend, reading pages so that no read is
// held open while fn runs (fn may write).
func (s *Store) List(ctx context.Context, bucket persistence.Bucket, prefix string, fn func(key string, value []byte) error) error {
	if err := s.check(ctx, bucket, nil); err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("%w: nil list function", ErrInvalid)
	}
	base := s.keyOf(bucket, "")
	from := base + prefix
	end := clientv3.GetPrefixRangeEnd(from)
	for {
		var resp *clientv3.GetResponse
		err := retrying(ctx, func(ctx context.Context) (err error) {
			resp, err = s.cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(listPageSize),
				clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
			return err
		})
		if err != nil {
			return mapErr(ctx, err)
		}
		for _, kv := range resp.Kvs {
			if err := fn(strings.TrimPrefix(string(kv.Key), base), kv.Value); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Ping implements persistence.Backend: a linearizable read proves a
// quorum answers.
func (s *Store) Ping(ctx context.Context) error {
	if ctx == nil {
		return fmt.Errorf("%w: nil context", ErrInvalid)
	}
	if s.state.closed.Load() {
		return persistence.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := s.cli.Get(ctx, s.prefix+"ping", clientv3.WithCountOnly())
	return mapErr(ctx, err)
}

// Close implements persistence.Backend.
func (s *Store) Close() error {
	if s.state.closed.Swap(true) {
		return persistence.ErrClosed
	}
	if s.state.onClose != nil {
		return s.state.onClose()
	}
	return nil
}
