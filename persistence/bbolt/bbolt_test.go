package bbolt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"authrim/persistence"
	"authrim/persistence/bbolt"
	"authrim/persistence/conformance"
)

func openStore(t testing.TB, dir string, opts bbolt.Options) *bbolt.Store {
	t.Helper()
	s, err := bbolt.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	return s
}

// The production configuration (fsync on, default group commit) against
// real files.
func TestConformance(t *testing.T) {
	conformance.RunTests(t, func(t *testing.T, dir string) persistence.Backend {
		return openStore(t, dir, bbolt.Options{})
	})
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	s := openStore(t, dir, bbolt.Options{})
	defer s.Close()

	if want := filepath.Join(dir, bbolt.FileName); s.Path() != want {
		t.Errorf("Path() = %q, want %q", s.Path(), want)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, s.Path(): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		// The umask can only remove bits; group and others must get none.
		if perm := fi.Mode().Perm(); perm&^want != 0 || perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want at most %v", path, perm, want)
		}
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	for name, opts := range map[string]bbolt.Options{
		"negative timeout":    {Timeout: -time.Second},
		"negative batch wait": {MaxBatchDelay: -time.Millisecond},
		"negative batch size": {MaxBatchSize: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := bbolt.Open(t.TempDir(), opts); !errors.Is(err, bbolt.ErrInvalid) {
				if s != nil {
					s.Close()
				}
				t.Errorf("Open = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := bbolt.Open("", bbolt.Options{}); !errors.Is(err, bbolt.ErrInvalid) {
		t.Errorf("Open(\"\") = %v, want ErrInvalid", err)
	}
}

// A second Open of the same directory (another process in production; the
// lock is per open file, so a second Store in this process shows the same)
// must fail clearly within the timeout instead of hanging.
func TestSecondOpenFailsWithinTimeout(t *testing.T) {
	dir := t.TempDir()
	first := openStore(t, dir, bbolt.Options{})

	const timeout = 200 * time.Millisecond
	second, err := bbolt.Open(dir, bbolt.Options{Timeout: timeout})
	if err == nil {
		second.Close()
		t.Fatal("second Open of a locked directory succeeded")
	}
	if !errors.Is(err, bbolt.ErrLocked) || !errors.Is(err, bolt.ErrTimeout) {
		t.Errorf("second Open = %v, want ErrLocked wrapping bolt.ErrTimeout", err)
	}
	// The default timeout applies when none is given (bolt's timeout
	// error shows it ended the wait, not a hang cut short by go test).
	if s, err := bbolt.Open(dir, bbolt.Options{}); err == nil {
		s.Close()
		t.Fatal("second Open with the default timeout succeeded")
	} else if !errors.Is(err, bolt.ErrTimeout) {
		t.Errorf("second Open with the default timeout = %v, want bolt.ErrTimeout", err)
	}

	// Once the first Store is closed the directory is usable again.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third := openStore(t, dir, bbolt.Options{Timeout: timeout})
	if err := third.Close(); err != nil {
		t.Fatal(err)
	}
}

// Open creates exactly the buckets declared in persistence/schema.go, so a
// fresh file shows the whole layout, and the store refuses any other
// bucket: a bucket used but not declared fails at its first use.
func TestOpenCreatesDeclaredBuckets(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir, bbolt.Options{})
	for _, b := range []persistence.Bucket{"sessionz", "codes", ""} {
		if err := s.Put(ctx, b, "k", []byte("v")); !errors.Is(err, persistence.ErrUnknownBucket) {
			t.Errorf("Put in undeclared bucket %q = %v, want ErrUnknownBucket", b, err)
		}
	}
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []string
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			got = append(got, string(name))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, spec := range persistence.Buckets() {
		want = append(want, string(spec.Name))
	}
	slices.Sort(want) // bolt lists buckets in byte order
	if !slices.Equal(got, want) {
		t.Errorf("buckets in a fresh file = %q, want the declared %q", got, want)
	}
}

// WriteTo produces a consistent copy that opens as a Store of its own.
func TestWriteToSnapshot(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), bbolt.Options{})
	defer s.Close()
	if err := s.Put(ctx, persistence.BucketKeys, "kid-1", []byte("key material")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, persistence.BucketSessions, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	n, err := s.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) || n == 0 {
		t.Errorf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
	}
	// Writes after the snapshot must not show up in it.
	if err := s.Put(ctx, persistence.BucketKeys, "kid-2", []byte("later")); err != nil {
		t.Fatal(err)
	}

	backup := t.TempDir()
	if err := os.WriteFile(filepath.Join(backup, bbolt.FileName), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	restored := openStore(t, backup, bbolt.Options{})
	defer restored.Close()
	if v, err := restored.Get(ctx, persistence.BucketKeys, "kid-1"); err != nil || string(v) != "key material" {
		t.Errorf("restored kid-1 = %q, %v", v, err)
	}
	if v, err := restored.Get(ctx, persistence.BucketSessions, "k"); err != nil || string(v) != "v" {
		t.Errorf("restored sessions/k = %q, %v", v, err)
	}
	if _, err := restored.Get(ctx, persistence.BucketKeys, "kid-2"); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("write after the snapshot is in it: %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteTo(&buf); !errors.Is(err, persistence.ErrClosed) {
		t.Errorf("WriteTo after Close = %v, want ErrClosed", err)
	}
}

// Keys can be secrets (authorization codes, session ids) and errors get
// logged, so error messages must not contain them.
func TestErrorsDoNotLeakKeys(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), bbolt.Options{})
	defer s.Close()
	const secret = "code-SECRET-0123456789"
	if err := s.Put(ctx, persistence.BucketSessions, secret, []byte("v")); err != nil {
		t.Fatal(err)
	}
	errs := []error{
		func() error { _, err := s.Get(ctx, persistence.BucketSessions, "missing-"+secret); return err }(),
		s.Create(ctx, persistence.BucketSessions, secret, []byte("again")),
		s.Delete(ctx, persistence.BucketSessions, "missing-"+secret),
		s.Put(ctx, persistence.BucketSessions, secret+string(make([]byte, bolt.MaxKeySize)), nil),
	}
	for _, err := range errs {
		if err == nil {
			t.Error("expected an error")
		} else if bytes.Contains([]byte(err.Error()), []byte("SECRET")) {
			t.Errorf("error leaks the key: %v", err)
		}
	}
	if err := errs[3]; !errors.Is(err, bbolt.ErrInvalid) {
		t.Errorf("Put of an oversized key = %v, want ErrInvalid", err)
	}
}

// Close waits for writes already in flight (queued for a group commit)
// instead of failing them.
func TestCloseDrainsInFlightWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir, bbolt.Options{MaxBatchDelay: 100 * time.Millisecond})
	const n = 10
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- s.Put(ctx, persistence.BucketSessions, fmt.Sprintf("k%d", i), []byte("v")) }()
	}
	time.Sleep(20 * time.Millisecond) // let the writes queue in the batch
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	for i := range n {
		if err := <-errs; err == nil {
			acked[fmt.Sprint(i)] = true
		} else if !errors.Is(err, persistence.ErrClosed) {
			t.Errorf("Put racing Close = %v, want nil or ErrClosed", err)
		}
	}
	// Whatever was acknowledged must be on disk.
	s = openStore(t, dir, bbolt.Options{})
	defer s.Close()
	count := 0
	if err := s.List(ctx, persistence.BucketSessions, "", func(string, []byte) error { count++; return nil }); err != nil {
		t.Fatal(err)
	}
	if count < len(acked) {
		t.Errorf("%d writes acknowledged, %d on disk", len(acked), count)
	}
}

// BenchmarkPutParallel shows group commit: with fsync on, parallel writers
// share commits, so ns/op falls well below one fsync (compare the serial
// sub-benchmark, which pays a full commit, batch delay included, per Put).
func BenchmarkPutParallel(b *testing.B) {
	value := bytes.Repeat([]byte("v"), 256)
	run := func(b *testing.B, opts bbolt.Options, parallel bool) {
		s := openStore(b, b.TempDir(), opts)
		defer s.Close()
		ctx := context.Background()
		var next atomic.Int64
		put := func() {
			k := fmt.Sprintf("key-%012d", next.Add(1))
			if err := s.Put(ctx, persistence.BucketSessions, k, value); err != nil {
				b.Error(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		if !parallel {
			for b.Loop() {
				put()
			}
			return
		}
		b.SetParallelism(16) // 16 writers per CPU: enough to fill batches
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				put()
			}
		})
	}
	b.Run("serial", func(b *testing.B) { run(b, bbolt.Options{}, false) })
	b.Run("parallel", func(b *testing.B) { run(b, bbolt.Options{}, true) })
	b.Run("parallel-nosync", func(b *testing.B) { run(b, bbolt.Options{NoSync: true}, true) })
	// The batch delay, not fsync, bounds a lone writer's latency; these show
	// the trade-off when tuning Options.MaxBatchDelay.
	b.Run("serial-delay1ms", func(b *testing.B) { run(b, bbolt.Options{MaxBatchDelay: time.Millisecond}, false) })
	b.Run("parallel-delay1ms", func(b *testing.B) { run(b, bbolt.Options{MaxBatchDelay: time.Millisecond}, true) })
}

// A failing Update shares a group commit with other writes: it must get
// its own error back unchanged and must not fail or undo the others.
func TestUpdateErrorInsideGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), bbolt.Options{})
	defer s.Close()
	boom := errors.New("boom")
	const n = 40
	errs := make(chan error, 2*n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			errs <- s.Put(ctx, persistence.BucketSessions, fmt.Sprintf("k%02d", i), []byte("v"))
		}()
		go func() {
			<-start
			err := s.Update(ctx, persistence.BucketSessions, fmt.Sprintf("u%02d", i), func([]byte, bool) ([]byte, error) {
				return []byte("never"), boom
			})
			if err != boom { // returned as is, not even wrapped
				err = fmt.Errorf("Update = %v, want boom itself", err)
			} else {
				err = nil
			}
			errs <- err
		}()
	}
	close(start)
	for range 2 * n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	count := 0
	err := s.List(ctx, persistence.BucketSessions, "", func(k string, _ []byte) error {
		if k[0] != 'k' {
			t.Errorf("failed Update stored %q", k)
		}
		count++
		return nil
	})
	if err != nil || count != n {
		t.Errorf("List: %d keys, %v; want %d", count, err, n)
	}
}

// A panic in Update's fn reaches the caller (it is the caller's bug) and
// leaves the store usable: the transaction is rolled back and locks are
// released.
func TestUpdatePanicLeavesStoreUsable(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), bbolt.Options{})
	defer s.Close()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic in fn did not reach the caller")
			}
		}()
		_ = s.Update(ctx, persistence.BucketSessions, "k", func([]byte, bool) ([]byte, error) { panic("caller bug") })
	}()
	if _, err := s.Get(ctx, persistence.BucketSessions, "k"); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("Get after a panicking Update = %v, want ErrNotFound", err)
	}
	if err := s.Put(ctx, persistence.BucketSessions, "k", []byte("v")); err != nil {
		t.Errorf("Put after a panicking Update: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after a panicking Update: %v", err)
	}
}
