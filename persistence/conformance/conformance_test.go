package conformance_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"authrim/persistence"
	"authrim/persistence/conformance"
)

// These tests check the suite itself: a correct in-memory backend must
// pass it, and each mutant (a backend with one deliberate bug) must make
// the named sub-test fail. Mutants run in a child process because a
// failing suite cannot be observed from inside the same *testing.T.

// TestReferenceBackend: the suite is not stricter than the contract.
func TestReferenceBackend(t *testing.T) {
	conformance.RunTests(t, memOpener(""))
}

const mutantEnv = "CONFORMANCE_MUTANT"

// TestMutantSuite is the child side: it runs the suite on the mutant named
// in the environment, and is skipped otherwise.
func TestMutantSuite(t *testing.T) {
	m := os.Getenv(mutantEnv)
	if m == "" {
		t.Skip("runs only as a child of TestSuiteCatchesMutants")
	}
	conformance.RunTests(t, memOpener(m))
}

// mutants maps each deliberate bug to a sub-test that must catch it.
var mutants = map[string]string{
	"ping-fails":              "ping",
	"get-missing-nil":         "get missing returns ErrNotFound",
	"get-prefix-match":        "get missing returns ErrNotFound",
	"delete-missing-nil":      "delete missing returns ErrNotFound",
	"delete-noop":             "delete removes",
	"put-ignored-if-exists":   "put overwrites",
	"create-overwrites":       "create existing conflicts and keeps old value",
	"create-no-conflict":      "create existing conflicts and keeps old value",
	"create-racy":             "concurrent creates have one winner",
	"drops-empty-value":       "empty value is stored",
	"put-no-copy":             "put and create copy the value",
	"get-no-copy":             "get returns a copy",
	"update-exists-always":    "update missing key sees exists=false and creates",
	"update-old-nil":          "update existing key sees old value",
	"update-old-shared":       "update error changes nothing",
	"update-nil-stores":       "update returning nil deletes",
	"update-nil-creates":      "update returning nil on missing key is a no-op",
	"update-error-writes":     "update error changes nothing",
	"update-error-replaced":   "update error changes nothing",
	"update-racy":             "concurrent updates are atomic",
	"list-unsorted":           "list by prefix in key order",
	"list-ignores-prefix":     "list by prefix in key order",
	"list-drops-last":         "list many keys",
	"list-ignores-error":      "list stops on callback error",
	"list-holds-lock":         "list callback may write",
	"shared-buckets":          "buckets are isolated",
	"no-persist":              "reopen keeps data",
	"close-noop":              "closed backend returns ErrClosed",
	"ignores-ctx":             "cancelled context changes nothing",
	"ctx-error-not-wrapped":   "cancelled context changes nothing",
	"accepts-empty":           "empty bucket or key is rejected",
	"panics-on-empty":         "empty bucket or key is rejected",
	"empty-is-not-found":      "empty bucket or key is rejected",
	"nil-callback-panics":     "nil callback is rejected",
	"binary-keys-truncated":   "binary keys and large values",
	"list-other-bucket-leak":  "buckets are isolated",
	"accepts-undeclared":      "undeclared bucket is refused",
	"list-accepts-undeclared": "undeclared bucket is refused",
	"undeclared-is-not-found": "undeclared bucket is refused",
	"stale-bucket-list":       "every declared bucket is accepted",
}

func TestSuiteCatchesMutants(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns one child test process per mutant")
	}
	names := make([]string, 0, len(mutants))
	for m := range mutants {
		names = append(names, m)
	}
	slices.Sort(names)
	for _, m := range names {
		want := mutants[m]
		t.Run(m, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutantSuite$", "-test.count=1", "-test.timeout=120s")
			cmd.Env = append(os.Environ(), mutantEnv+"="+m)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("suite passed a backend with bug %q", m)
			}
			marker := "--- FAIL: TestMutantSuite/" + strings.ReplaceAll(want, " ", "_")
			if !bytes.Contains(out, []byte(marker+" ")) {
				t.Errorf("bug %q: sub-test %q did not fail; output:\n%s", m, want, out)
			}
		})
	}
}

// memOpener returns an open function for the in-memory backend. Data lives
// in a process-wide registry keyed by dir, so reopening finds it.
func memOpener(mutant string) func(*testing.T, string) persistence.Backend {
	return func(t *testing.T, dir string) persistence.Backend {
		registry.Lock()
		defer registry.Unlock()
		d := registry.m[dir]
		if d == nil || mutant == "no-persist" {
			d = &memData{buckets: map[string]map[string][]byte{}}
			registry.m[dir] = d
		}
		return &memBackend{data: d, mutant: mutant}
	}
}

var registry = struct {
	sync.Mutex
	m map[string]*memData
}{m: map[string]*memData{}}

type memData struct {
	mu      sync.Mutex
	buckets map[string]map[string][]byte
}

type memBackend struct {
	data   *memData
	mutant string

	mu     sync.Mutex
	closed bool
}

var errInvalid = errors.New("mem: invalid argument")

func (m *memBackend) is(name string) bool { return m.mutant == name }

// check applies the checks every call shares, in the order the contract
// implies: bad input, closed, context. checkKey is false for List.
func (m *memBackend) check(ctx context.Context, bucket persistence.Bucket, key string, checkKey bool) error {
	switch {
	case m.is("accepts-undeclared"), m.is("list-accepts-undeclared") && !checkKey:
	case m.is("stale-bucket-list") && bucket == persistence.BucketSessions:
		// A backend with a list of its own that misses a bucket.
		return persistence.ErrUnknownBucket
	default:
		if err := bucket.Check(); err != nil {
			if m.is("undeclared-is-not-found") {
				return persistence.ErrNotFound
			}
			return err
		}
	}
	if bucket == "" || (checkKey && key == "") {
		switch {
		case m.is("accepts-empty"):
		case m.is("panics-on-empty"):
			panic("empty name")
		case m.is("empty-is-not-found"):
			return persistence.ErrNotFound
		default:
			return errInvalid
		}
	}
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed && !m.is("close-noop") {
		return persistence.ErrClosed
	}
	if err := ctx.Err(); err != nil && !m.is("ignores-ctx") {
		if m.is("ctx-error-not-wrapped") {
			return errors.New("mem: context done")
		}
		return fmt.Errorf("mem: %w", err)
	}
	return nil
}

func (m *memBackend) bucketName(bucket persistence.Bucket) string {
	if m.is("shared-buckets") {
		return "shared"
	}
	return string(bucket)
}

func (m *memBackend) keyName(key string) string {
	if m.is("binary-keys-truncated") {
		if i := strings.IndexByte(key, 0); i >= 0 {
			return key[:i]
		}
	}
	return key
}

// lookup must be called with data.mu held.
func (m *memBackend) lookup(bucket persistence.Bucket, key string) ([]byte, bool) {
	b := m.data.buckets[m.bucketName(bucket)]
	if m.is("get-prefix-match") {
		for k, v := range b {
			if strings.HasPrefix(k, key) {
				return v, true
			}
		}
		return nil, false
	}
	v, ok := b[m.keyName(key)]
	return v, ok
}

// store must be called with data.mu held.
func (m *memBackend) store(bucket persistence.Bucket, key string, value []byte) {
	name := m.bucketName(bucket)
	b := m.data.buckets[name]
	if b == nil {
		b = map[string][]byte{}
		m.data.buckets[name] = b
	}
	if m.is("drops-empty-value") && len(value) == 0 {
		delete(b, m.keyName(key))
		return
	}
	if !m.is("put-no-copy") {
		value = bytes.Clone(value)
		if value == nil {
			value = []byte{}
		}
	}
	b[m.keyName(key)] = value
}

func (m *memBackend) remove(bucket persistence.Bucket, key string) {
	delete(m.data.buckets[m.bucketName(bucket)], m.keyName(key))
}

func (m *memBackend) Get(ctx context.Context, bucket persistence.Bucket, key string) ([]byte, error) {
	if err := m.check(ctx, bucket, key, true); err != nil {
		return nil, err
	}
	m.data.mu.Lock()
	defer m.data.mu.Unlock()
	v, ok := m.lookup(bucket, key)
	if !ok {
		if m.is("get-missing-nil") {
			return nil, nil
		}
		return nil, persistence.ErrNotFound
	}
	if m.is("get-no-copy") {
		return v, nil
	}
	return bytes.Clone(v), nil
}

func (m *memBackend) Create(ctx context.Context, bucket persistence.Bucket, key string, value []byte) error {
	if err := m.check(ctx, bucket, key, true); err != nil {
		return err
	}
	m.data.mu.Lock()
	_, exists := m.lookup(bucket, key)
	if m.is("create-racy") {
		// Check and set in two critical sections: a lost race.
		m.data.mu.Unlock()
		time.Sleep(time.Millisecond)
		m.data.mu.Lock()
	}
	defer m.data.mu.Unlock()
	switch {
	case exists && m.is("create-overwrites"):
		m.store(bucket, key, value)
		return persistence.ErrConflict
	case exists && m.is("create-no-conflict"):
		m.store(bucket, key, value)
		return nil
	case exists:
		return persistence.ErrConflict
	}
	m.store(bucket, key, value)
	return nil
}

func (m *memBackend) Put(ctx context.Context, bucket persistence.Bucket, key string, value []byte) error {
	if err := m.check(ctx, bucket, key, true); err != nil {
		return err
	}
	m.data.mu.Lock()
	defer m.data.mu.Unlock()
	if _, ok := m.lookup(bucket, key); ok && m.is("put-ignored-if-exists") {
		return nil
	}
	m.store(bucket, key, value)
	return nil
}

func (m *memBackend) Delete(ctx context.Context, bucket persistence.Bucket, key string) error {
	if err := m.check(ctx, bucket, key, true); err != nil {
		return err
	}
	m.data.mu.Lock()
	defer m.data.mu.Unlock()
	if _, ok := m.lookup(bucket, key); !ok {
		if m.is("delete-missing-nil") {
			return nil
		}
		return persistence.ErrNotFound
	}
	if !m.is("delete-noop") {
		m.remove(bucket, key)
	}
	return nil
}

func (m *memBackend) Update(ctx context.Context, bucket persistence.Bucket, key string, fn func([]byte, bool) ([]byte, error)) error {
	if err := m.check(ctx, bucket, key, true); err != nil {
		return err
	}
	if fn == nil && !m.is("nil-callback-panics") {
		return errInvalid
	}
	m.data.mu.Lock()
	defer m.data.mu.Unlock()
	v, exists := m.lookup(bucket, key)
	old := bytes.Clone(v)
	switch {
	case m.is("update-old-shared"):
		old = v
	case m.is("update-old-nil"):
		old = nil
	case m.is("update-exists-always"):
		exists = true
	}
	if m.is("update-racy") {
		// Read and write in two critical sections: lost updates.
		m.data.mu.Unlock()
		time.Sleep(time.Millisecond)
		m.data.mu.Lock()
	}
	next, err := fn(old, exists)
	if err != nil {
		switch {
		case m.is("update-error-writes"):
			m.store(bucket, key, next)
		case m.is("update-error-replaced"):
			return errors.New("mem: update failed")
		}
		return err
	}
	if next == nil {
		switch {
		case m.is("update-nil-stores"):
			m.store(bucket, key, []byte{})
		case m.is("update-nil-creates") && !exists:
			m.store(bucket, key, []byte{})
		default:
			m.remove(bucket, key)
		}
		return nil
	}
	m.store(bucket, key, next)
	return nil
}

func (m *memBackend) List(ctx context.Context, bucket persistence.Bucket, prefix string, fn func(string, []byte) error) error {
	if err := m.check(ctx, bucket, "", false); err != nil {
		return err
	}
	if fn == nil && !m.is("nil-callback-panics") {
		return errInvalid
	}
	m.data.mu.Lock()
	type entry struct {
		k string
		v []byte
	}
	var entries []entry
	for k, v := range m.data.buckets[m.bucketName(bucket)] {
		if strings.HasPrefix(k, prefix) || m.is("list-ignores-prefix") {
			entries = append(entries, entry{k, bytes.Clone(v)})
		}
	}
	if m.is("list-other-bucket-leak") {
		for name, b := range m.data.buckets {
			if name != string(bucket) {
				for k, v := range b {
					entries = append(entries, entry{k, v})
				}
			}
		}
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.k, b.k) })
	if m.is("list-unsorted") {
		slices.Reverse(entries)
	}
	if m.is("list-drops-last") && len(entries) > 0 {
		entries = entries[:len(entries)-1]
	}
	if !m.is("list-holds-lock") {
		m.data.mu.Unlock()
	} else {
		defer m.data.mu.Unlock()
	}
	for _, e := range entries {
		if err := fn(e.k, e.v); err != nil && !m.is("list-ignores-error") {
			return err
		}
	}
	return nil
}

func (m *memBackend) Ping(ctx context.Context) error {
	if err := m.check(ctx, persistence.BucketMeta, "-", true); err != nil {
		return err
	}
	if m.is("ping-fails") {
		return errors.New("mem: down")
	}
	return nil
}

func (m *memBackend) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed && !m.is("close-noop") {
		return persistence.ErrClosed
	}
	m.closed = true
	return nil
}
