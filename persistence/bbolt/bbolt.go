package bbolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"authrim/persistence"
)

// FileName is the name of the database file inside the directory given to
// Open. It is fixed so that backups and operators know what to look for.
const FileName = "authrim.db"

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero. bbolt's own default is to wait forever, which
// turns "another authrim already runs on this directory" into a silent hang.
const DefaultTimeout = 2 * time.Second

// listPageSize is how many entries List reads per read transaction. Paging
// keeps memory bounded for big buckets and, more importantly, means no bolt
// transaction is open while the caller's callback runs: a callback that
// writes to the store would otherwise deadlock as soon as the write needs to
// grow the memory map (bolt waits for all readers before remapping).
const listPageSize = 256

var (
	// ErrInvalid is returned for bad input: an empty key, a key or value
	// larger than bbolt accepts, a nil callback or context, or a bad
	// Options field. It is a programming error on the caller's side,
	// deliberately distinct from persistence.ErrNotFound so that bad input
	// is never mistaken for "absent".
	ErrInvalid = errors.New("bbolt: invalid argument")
	// ErrLocked is returned by Open when the file lock could not be taken
	// within Options.Timeout: another process (or another Store in this
	// process) has the database open.
	ErrLocked = errors.New("bbolt: database file is locked")
)

// DefaultBatchDelay is the group-commit window when Options leaves it 0.
const DefaultBatchDelay = time.Millisecond

// Options tune Open. The zero value is the production setting.
type Options struct {
	// Timeout bounds the wait for the exclusive file lock. Zero means
	// DefaultTimeout; negative values are rejected.
	Timeout time.Duration
	// NoSync skips fsync after each commit. Only for benchmarks and
	// throwaway tests: with it set, acknowledged writes can be lost in a
	// crash, which breaks the persistence.Backend contract.
	NoSync bool
	// MaxBatchDelay is how long a write waits for others to join its group
	// commit. Zero means DefaultBatchDelay: bbolt's own 10ms default made
	// a lone write cost ~11 ms here (BenchmarkPut), while under load the
	// batch fills before 1 ms anyway.
	MaxBatchDelay time.Duration
	// MaxBatchSize caps how many writes share one commit. Zero keeps
	// bbolt's default (1000).
	MaxBatchSize int
}

// Store is a persistence.Backend on one bbolt file. It is safe for
// concurrent use.
type Store struct {
	db   *bolt.DB
	path string

	// mu is held for reading by every operation while it uses db, and for
	// writing by Close: Close therefore waits for in-flight calls (so
	// queued group commits finish instead of failing), and calls that start
	// after Close see closed and return ErrClosed.
	mu     sync.RWMutex
	closed bool
}

var _ persistence.Backend = (*Store)(nil)

// Open opens (creating if needed) dir/authrim.db. dir is created with mode
// 0700 and the file with mode 0600: it holds signing keys and sessions.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: open: empty directory", ErrInvalid)
	}
	if opts.Timeout < 0 || opts.MaxBatchDelay < 0 || opts.MaxBatchSize < 0 {
		return nil, fmt.Errorf("%w: open: negative option", ErrInvalid)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bbolt: open: create directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: timeout,
		NoSync:  opts.NoSync,
		// A commit does not rewrite the freelist pages (fewer pages per
		// fsync'd commit); Open rebuilds the list by scanning instead.
		// The map form keeps allocation and release cheap on big files.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s (waited %s; is another authrim using this directory?): %w",
				ErrLocked, path, timeout, err)
		}
		return nil, fmt.Errorf("bbolt: open %s: %w", path, err)
	}
	db.MaxBatchDelay = DefaultBatchDelay
	if opts.MaxBatchDelay > 0 {
		db.MaxBatchDelay = opts.MaxBatchDelay
	}
	if opts.MaxBatchSize > 0 {
		db.MaxBatchSize = opts.MaxBatchSize
	}
	// Create the buckets declared in persistence/schema.go up front, so
	// the file always shows the whole layout (`bbolt buckets`); the store
	// refuses any other bucket.
	err = db.Update(func(tx *bolt.Tx) error {
		for _, spec := range persistence.Buckets() {
			if _, err := tx.CreateBucketIfNotExists([]byte(spec.Name)); err != nil {
				return fmt.Errorf("bucket %q: %w", spec.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close() // the schema error is the one worth reporting
		return nil, fmt.Errorf("bbolt: open %s: create buckets: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// Path returns the database file's path (dir/authrim.db).
func (s *Store) Path() string { return s.path }

// Get returns a copy of the value stored under bucket/key, or ErrNotFound.
func (s *Store) Get(ctx context.Context, bucket persistence.Bucket, key string) ([]byte, error) {
	const op = "get"
	if err := validate(op, bucket, key); err != nil {
		return nil, err
	}
	release, err := s.begin(ctx, op)
	if err != nil {
		return nil, err
	}
	defer release()

	var out []byte
	found := false
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		var v []byte
		if v, found = lookup(b, []byte(key)); found {
			out = clone(v) // v points into the mmap, valid only inside this tx
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, bucket, err)
	}
	if !found {
		return nil, fmt.Errorf("bbolt: %s %q: %w", op, bucket, persistence.ErrNotFound)
	}
	return out, nil
}

// Create stores value under bucket/key if the key is absent, else returns
// ErrConflict and changes nothing.
func (s *Store) Create(ctx context.Context, bucket persistence.Bucket, key string, value []byte) error {
	const op = "create"
	if err := validateWrite(op, bucket, key, value); err != nil {
		return err
	}
	release, err := s.begin(ctx, op)
	if err != nil {
		return err
	}
	defer release()

	k, v := []byte(key), nonNil(value)
	// The outcome is recorded rather than returned as a tx error: an error
	// would roll back the whole group commit and make bolt re-run everyone
	// else's writes. Batch may run this function several times; only the
	// last run belongs to the committed transaction, so reset first.
	var conflict bool
	err = s.db.Batch(func(tx *bolt.Tx) error {
		conflict = false
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		if _, ok := lookup(b, k); ok {
			conflict = true
			return nil
		}
		return b.Put(k, v)
	})
	if err != nil {
		return wrap(op, bucket, err)
	}
	if conflict {
		return fmt.Errorf("bbolt: %s %q: %w", op, bucket, persistence.ErrConflict)
	}
	return nil
}

// Put stores value under bucket/key, replacing what was there.
func (s *Store) Put(ctx context.Context, bucket persistence.Bucket, key string, value []byte) error {
	const op = "put"
	if err := validateWrite(op, bucket, key, value); err != nil {
		return err
	}
	release, err := s.begin(ctx, op)
	if err != nil {
		return err
	}
	defer release()

	// bolt keeps a reference to k and v until the commit; the caller is
	// blocked until then, so no copy is needed.
	k, v := []byte(key), nonNil(value)
	err = s.db.Batch(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put(k, v)
	})
	if err != nil {
		return wrap(op, bucket, err)
	}
	return nil
}

// Delete removes bucket/key, or returns ErrNotFound.
func (s *Store) Delete(ctx context.Context, bucket persistence.Bucket, key string) error {
	const op = "delete"
	if err := validate(op, bucket, key); err != nil {
		return err
	}
	release, err := s.begin(ctx, op)
	if err != nil {
		return err
	}
	defer release()

	k := []byte(key)
	var missing bool // recorded, not returned: see Create
	err = s.db.Batch(func(tx *bolt.Tx) error {
		missing = false
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			missing = true
			return nil
		}
		if _, ok := lookup(b, k); !ok {
			missing = true
			return nil
		}
		return b.Delete(k)
	})
	if err != nil {
		return wrap(op, bucket, err)
	}
	if missing {
		return fmt.Errorf("bbolt: %s %q: %w", op, bucket, persistence.ErrNotFound)
	}
	return nil
}

// Update is an atomic read-modify-write inside one write transaction. fn
// receives a copy of the current value (it may modify and return it) and
// may run more than once, because the group commit re-runs transaction
// functions when another write in the same group fails. fn must not call
// the Store: it runs inside the write transaction. An error from fn is
// returned unchanged and nothing is written.
func (s *Store) Update(ctx context.Context, bucket persistence.Bucket, key string, fn func(old []byte, exists bool) ([]byte, error)) error {
	const op = "update"
	if err := validate(op, bucket, key); err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("%w: %s %q: nil function", ErrInvalid, op, bucket)
	}
	release, err := s.begin(ctx, op)
	if err != nil {
		return err
	}
	defer release()

	k := []byte(key)
	// fnErr is recorded instead of being returned from the transaction for
	// the same reason as in Create; it is safe because nothing has been
	// written when fn fails, so the commit carries no change of ours.
	var fnErr error
	var invalid error
	err = s.db.Batch(func(tx *bolt.Tx) error {
		fnErr, invalid = nil, nil
		b := tx.Bucket([]byte(bucket))
		var old []byte
		exists := false
		if b != nil {
			if v, ok := lookup(b, k); ok {
				old, exists = clone(v), true
			}
		}
		next, err := fn(old, exists)
		if err != nil {
			fnErr = err
			return nil
		}
		if next == nil {
			if !exists {
				return nil
			}
			return b.Delete(k)
		}
		if len(next) > bolt.MaxValueSize {
			invalid = fmt.Errorf("%w: %s %q: value of %d bytes exceeds %d", ErrInvalid, op, bucket, len(next), bolt.MaxValueSize)
			return nil
		}
		if b == nil {
			if b, err = tx.CreateBucketIfNotExists([]byte(bucket)); err != nil {
				return err
			}
		}
		return b.Put(k, next)
	})
	if err != nil {
		return wrap(op, bucket, err)
	}
	if fnErr != nil {
		return fnErr // as is: callers compare it with errors.Is or ==
	}
	return invalid
}

// List calls fn for each key in bucket that starts with prefix, in byte
// order of the keys. It reads the bucket in pages of consistent snapshots
// and calls fn outside any transaction, so fn may use the Store (for example
// delete what it visits). Keys written or deleted during the call may or may
// not be seen; every key is visited at most once and in increasing order.
// An error from fn stops the iteration and is returned unchanged.
func (s *Store) List(ctx context.Context, bucket persistence.Bucket, prefix string, fn func(key string, value []byte) error) error {
	const op = "list"
	if err := bucket.Check(); err != nil {
		return fmt.Errorf("bbolt: %s: %w", op, err)
	}
	if fn == nil {
		return fmt.Errorf("%w: %s %q: nil function", ErrInvalid, op, bucket)
	}
	p := []byte(prefix)
	var after []byte // last key handed to fn; nil before the first page
	for {
		page, err := s.listPage(ctx, op, bucket, p, after)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e.key, e.value); err != nil {
				return err
			}
		}
		if len(page) < listPageSize {
			return nil
		}
		after = []byte(page[len(page)-1].key)
	}
}

type entry struct {
	key   string
	value []byte
}

// listPage reads up to listPageSize entries with the prefix that sort after
// the key after (from the start when after is nil), copied out of the mmap.
func (s *Store) listPage(ctx context.Context, op string, bucket persistence.Bucket, prefix, after []byte) ([]entry, error) {
	release, err := s.begin(ctx, op)
	if err != nil {
		return nil, err
	}
	defer release()

	var page []entry
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		if after == nil {
			k, v = c.Seek(prefix)
		} else {
			// Seek lands on after itself unless it was deleted meanwhile.
			if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(page) < listPageSize; k, v = c.Next() {
			if v == nil {
				continue // a nested bucket; this package never creates them
			}
			page = append(page, entry{key: string(k), value: clone(v)})
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, bucket, err)
	}
	return page, nil
}

// Ping reports whether the store can serve requests: it is open and a read
// transaction can start.
func (s *Store) Ping(ctx context.Context) error {
	const op = "ping"
	release, err := s.begin(ctx, op)
	if err != nil {
		return err
	}
	defer release()
	if err := s.db.View(func(*bolt.Tx) error { return nil }); err != nil {
		return wrap(op, "", err)
	}
	return nil
}

// WriteTo writes a consistent snapshot of the whole database file to w
// while the store keeps serving (one read transaction; writers are not
// blocked, but the file cannot grow its memory map until it ends). The
// output is a valid authrim.db, which is what backups need.
func (s *Store) WriteTo(w io.Writer) (int64, error) {
	const op = "snapshot"
	if w == nil {
		return 0, fmt.Errorf("%w: %s: nil writer", ErrInvalid, op)
	}
	release, err := s.begin(context.Background(), op)
	if err != nil {
		return 0, err
	}
	defer release()
	var n int64
	err = s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, wrap(op, "", err)
	}
	return n, nil
}

// Close waits for in-flight calls, then closes the file. Later calls,
// including Close, return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("bbolt: close: %w", persistence.ErrClosed)
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bbolt: close %s: %w", s.path, err)
	}
	return nil
}

// begin checks the context and takes the read side of s.mu; release must
// be called when the call no longer touches db.
func (s *Store) begin(ctx context.Context, op string) (release func(), err error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: %s: nil context", ErrInvalid, op)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bbolt: %s: %w", op, err)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, fmt.Errorf("bbolt: %s: %w", op, persistence.ErrClosed)
	}
	return s.mu.RUnlock, nil
}

// validate rejects buckets that persistence/schema.go does not declare
// and keys bolt cannot store. Keys are deliberately left out of every
// message: they can be secrets and errors get logged.
func validate(op string, bucket persistence.Bucket, key string) error {
	if err := bucket.Check(); err != nil {
		return fmt.Errorf("bbolt: %s: %w", op, err)
	}
	switch {
	case key == "":
		return fmt.Errorf("%w: %s %q: empty key", ErrInvalid, op, bucket)
	case len(key) > bolt.MaxKeySize:
		return fmt.Errorf("%w: %s %q: key of %d bytes exceeds %d", ErrInvalid, op, bucket, len(key), bolt.MaxKeySize)
	}
	return nil
}

func validateWrite(op string, bucket persistence.Bucket, key string, value []byte) error {
	if err := validate(op, bucket, key); err != nil {
		return err
	}
	if len(value) > bolt.MaxValueSize {
		return fmt.Errorf("%w: %s %q: value of %d bytes exceeds %d", ErrInvalid, op, bucket, len(value), bolt.MaxValueSize)
	}
	return nil
}

// wrap adds the package prefix and turns bolt's "not open" into ErrClosed.
func wrap(op string, bucket persistence.Bucket, err error) error {
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		err = fmt.Errorf("%w: %w", persistence.ErrClosed, err)
	}
	if bucket == "" {
		return fmt.Errorf("bbolt: %s: %w", op, err)
	}
	return fmt.Errorf("bbolt: %s %q: %w", op, bucket, err)
}

// lookup reports whether key holds a value in b. It goes through a cursor
// rather than b.Get because Get cannot tell an empty value from a missing
// key; nested buckets (v == nil) do not count.
func lookup(b *bolt.Bucket, key []byte) ([]byte, bool) {
	k, v := b.Cursor().Seek(key)
	if k == nil || v == nil || !bytes.Equal(k, key) {
		return nil, false
	}
	return v, true
}

// clone copies v out of bolt's memory map and never returns nil, so an
// empty stored value still reads as present.
func clone(v []byte) []byte {
	out := make([]byte, len(v))
	copy(out, v)
	return out
}

// nonNil maps a nil value to an empty one: inside a write transaction bolt
// reads a nil value back as nil, which lookup would take for "absent" and a
// second Create in the same group commit would then overwrite.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}
