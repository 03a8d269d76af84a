package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"authrim/persistence"
)

// Buckets used by the suite. Backends refuse buckets that
// persistence/schema.go does not declare, so the suite writes to declared
// ones; every sub-test runs on a fresh store, so what it writes there never
// meets real records (a backend treats values as opaque bytes anyway).
const (
	bucketA = persistence.BucketUsers
	bucketB = persistence.BucketClients
	// bucketEmpty is declared and never written by the suite.
	bucketEmpty = persistence.BucketJTIs
)

// undeclared are bucket names the schema does not declare: a typo, a
// case variant, names that would share a key prefix with a declared
// bucket on a key-value engine, and the empty name.
var undeclared = []persistence.Bucket{
	"no-such-bucket", bucketA + "x", bucketA[:len(bucketA)-1], "USERS",
	bucketA + "\x00", bucketA + "/", "",
}

// watchdog bounds calls that could deadlock, so a broken backend fails the
// test instead of hanging until go test's global timeout.
const watchdog = 20 * time.Second

// RunTests runs the shared suite against a backend. open(t, dir) must open
// (or reopen) the backend whose data lives in dir; every sub-test gets its
// own empty dir, and the suite closes every backend it opens.
func RunTests(t *testing.T, open func(t *testing.T, dir string) persistence.Backend) {
	t.Helper()
	if open == nil {
		t.Fatal("conformance: open is nil")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{open: open, dir: t.TempDir()}
			tc.run(t, h)
		})
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, h *harness)
}

var cases = []testCase{
	{"ping", testPing},
	{"put then get", testPutGet},
	{"put overwrites", testPutOverwrites},
	{"create then get", testCreateGet},
	{"create existing conflicts and keeps old value", testCreateConflict},
	{"get missing returns ErrNotFound", testGetMissing},
	{"delete removes", testDelete},
	{"delete missing returns ErrNotFound", testDeleteMissing},
	{"empty value is stored", testEmptyValue},
	{"binary keys and large values", testBinary},
	{"put and create copy the value", testWriteCopies},
	{"get returns a copy", testGetCopies},
	{"update missing key sees exists=false and creates", testUpdateCreates},
	{"update existing key sees old value", testUpdateExisting},
	{"update may modify old in place", testUpdateInPlace},
	{"update returning nil deletes", testUpdateDeletes},
	{"update returning nil on missing key is a no-op", testUpdateNilMissing},
	{"update error changes nothing", testUpdateError},
	{"concurrent updates are atomic", testConcurrentUpdates},
	{"concurrent creates have one winner", testConcurrentCreates},
	{"list by prefix in key order", testListPrefix},
	{"list many keys", testListMany},
	{"list empty bucket is empty", testListEmptyBucket},
	{"undeclared bucket is refused", testUndeclaredBucket},
	{"every declared bucket is accepted", testDeclaredBuckets},
	{"list stops on callback error", testListStops},
	{"list callback may write", testListCallbackWrites},
	{"buckets are isolated", testBucketsIsolated},
	{"reopen keeps data", testReopen},
	{"closed backend returns ErrClosed", testClosed},
	{"cancelled context changes nothing", testCancelled},
	{"empty bucket or key is rejected", testEmptyNames},
	{"nil callback is rejected", testNilCallbacks},
}

// harness opens backends on the sub-test's directory and closes them when
// the sub-test ends.
type harness struct {
	open func(t *testing.T, dir string) persistence.Backend
	dir  string
}

func (h *harness) backend(t *testing.T) persistence.Backend {
	t.Helper()
	b := h.open(t, h.dir)
	if b == nil {
		t.Fatal("open returned a nil backend")
	}
	t.Cleanup(func() {
		// Tests that close explicitly leave ErrClosed behind; anything
		// else is a failure to release the backend.
		if err := b.Close(); err != nil && !errors.Is(err, persistence.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// safe runs f, turning a panic into a test error: backends must return
// errors, never panic, on bad input.
func safe(t *testing.T, what string, f func() error) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s panicked: %v", what, p)
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f()
}

func mustPut(t *testing.T, b persistence.Backend, bucket persistence.Bucket, key, value string) {
	t.Helper()
	if err := b.Put(context.Background(), bucket, key, []byte(value)); err != nil {
		t.Fatalf("Put(%q, %q): %v", bucket, key, err)
	}
}

func wantValue(t *testing.T, b persistence.Backend, bucket persistence.Bucket, key, want string) {
	t.Helper()
	got, err := b.Get(context.Background(), bucket, key)
	if err != nil {
		t.Errorf("Get(%q, %q): %v, want %q", bucket, key, err, want)
		return
	}
	if string(got) != want {
		t.Errorf("Get(%q, %q) = %q, want %q", bucket, key, got, want)
	}
}

func wantMissing(t *testing.T, b persistence.Backend, bucket persistence.Bucket, key string) {
	t.Helper()
	got, err := b.Get(context.Background(), bucket, key)
	if !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("Get(%q, %q) = %q, %v; want ErrNotFound", bucket, key, got, err)
	}
}

type kv struct{ key, value string }

func list(t *testing.T, b persistence.Backend, bucket persistence.Bucket, prefix string) []kv {
	t.Helper()
	var out []kv
	err := b.List(context.Background(), bucket, prefix, func(k string, v []byte) error {
		out = append(out, kv{k, string(v)})
		return nil
	})
	if err != nil {
		t.Errorf("List(%q, %q): %v", bucket, prefix, err)
	}
	return out
}

func wantList(t *testing.T, b persistence.Backend, bucket persistence.Bucket, prefix string, want []kv) {
	t.Helper()
	if got := list(t, b, bucket, prefix); !slices.Equal(got, want) {
		t.Errorf("List(%q, %q) = %v, want %v", bucket, prefix, got, want)
	}
}

// parallel runs n copies of f released at once, to maximise contention.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

// withWatchdog fails the test if f does not return in time (a deadlock).
func withWatchdog(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(watchdog):
		t.Fatalf("%s did not return within %s (deadlock?)", what, watchdog)
	}
}

func testPing(t *testing.T, h *harness) {
	b := h.backend(t)
	if err := b.Ping(context.Background()); err != nil {
		t.Errorf("Ping on an open backend: %v", err)
	}
}

func testPutGet(t *testing.T, h *harness) {
	b := h.backend(t)
	mustPut(t, b, bucketA, "k1", "v1")
	mustPut(t, b, bucketA, "k2", "v2")
	wantValue(t, b, bucketA, "k1", "v1")
	wantValue(t, b, bucketA, "k2", "v2")
}

func testPutOverwrites(t *testing.T, h *harness) {
	b := h.backend(t)
	mustPut(t, b, bucketA, "k", "old")
	mustPut(t, b, bucketA, "k", "new")
	wantValue(t, b, bucketA, "k", "new")
	wantList(t, b, bucketA, "", []kv{{"k", "new"}})
}

func testCreateGet(t *testing.T, h *harness) {
	b := h.backend(t)
	if err := b.Create(context.Background(), bucketA, "k", []byte("v")); err != nil {
		t.Fatalf("Create on an absent key: %v", err)
	}
	wantValue(t, b, bucketA, "k", "v")
}

func testCreateConflict(t *testing.T, h *harness) {
	b := h.backend(t)
	ctx := context.Background()
	if err := b.Create(ctx, bucketA, "k", []byte("first")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	err := b.Create(ctx, bucketA, "k", []byte("second"))
	if !errors.Is(err, persistence.ErrConflict) {
		t.Errorf("Create on an existing key = %v, want ErrConflict", err)
	}
	wantValue(t, b, bucketA, "k", "first")
	// A key made by Put conflicts just the same.
	mustPut(t, b, bucketA, "p", "put")
	if err := b.Create(ctx, bucketA, "p", []byte("create")); !errors.Is(err, persistence.ErrConflict) {
		t.Errorf("Create on a key written by Put = %v, want ErrConflict", err)
	}
	wantValue(t, b, bucketA, "p", "put")
}

func testGetMissing(t *testing.T, h *harness) {
	b := h.backend(t)
	wantMissing(t, b, bucketEmpty, "k")
	mustPut(t, b, bucketA, "present", "v")
	wantMissing(t, b, bucketA, "absent")
	wantMissing(t, b, bucketA, "pres")     // a prefix of a key is not the key
	wantMissing(t, b, bucketA, "presentX") // nor is a longer key
}

func testDelete(t *testing.T, h *harness) {
	b := h.backend(t)
	mustPut(t, b, bucketA, "k", "v")
	mustPut(t, b, bucketA, "other", "o")
	if err := b.Delete(context.Background(), bucketA, "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, b, bucketA, "k")
	wantValue(t, b, bucketA, "other", "o")
	wantList(t, b, bucketA, "", []kv{{"other", "o"}})
}

func testDeleteMissing(t *testing.T, h *harness) {
	b := h.backend(t)
	ctx := context.Background()
	if err := b.Delete(ctx, bucketEmpty, "k"); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("Delete in an empty bucket = %v, want ErrNotFound", err)
	}
	mustPut(t, b, bucketA, "present", "v")
	if err := b.Delete(ctx, bucketA, "absent"); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("Delete of a missing key = %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, bucketA, "present"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := b.Delete(ctx, bucketA, "present"); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("second Delete of a key = %v, want ErrNotFound", err)
	}
}

func testEmptyValue(t *testing.T, h *harness) {
	b := h.backend(t)
	ctx := context.Background()
	if err := b.Put(ctx, bucketA, "empty", []byte{}); err != nil {
		t.Fatalf("Put of an empty value: %v", err)
	}
	if err := b.Put(ctx, bucketA, "nil", nil); err != nil {
		t.Fatalf("Put of a nil value: %v", err)
	}
	for _, k := range []string{"empty", "nil"} {
		got, err := b.Get(ctx, bucketA, k)
		if err != nil || len(got) != 0 {
			t.Errorf("Get(%q) = %q, %v; want an empty value", k, got, err)
		}
	}
	// Stored empty values exist: Create conflicts, Update sees them.
	if err := b.Create(ctx, bucketA, "empty", []byte("x")); !errors.Is(err, persistence.ErrConflict) {
		t.Errorf("Create over an empty value = %v, want ErrConflict", err)
	}
	err := b.Update(ctx, bucketA, "empty", func(old []byte, exists bool) ([]byte, error) {
		if !exists || len(old) != 0 {
			t.Errorf("Update on an empty value saw %q, exists=%v; want \"\", true", old, exists)
		}
		return old, nil
	})
	if err != nil {
		t.Errorf("Update: %v", err)
	}
	wantList(t, b, bucketA, "", []kv{{"empty", ""}, {"nil", ""}})
}

func testBinary(t *testing.T, h *harness) {
	b := h.backend(t)
	ctx := context.Background()
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	large := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	entries := []struct {
		key   string
		value []byte
	}{
		{"nul\x00in\x00key", all},
		{"\xff\xfe high bytes", []byte("hi")},
		{"utf-8 ключ 鍵", []byte("u")},
		{"large", large},
	}
	for _, e := range entries {
		if err := b.Put(ctx, bucketA, e.key, e.value); err != nil {
			t.Fatalf("Put(%q): %v", e.key, err)
		}
	}
	for _, e := range entries {
		got, err := b.Get(ctx, bucketA, e.key)
		if err != nil || !bytes.Equal(got, e.value) {
			t.Errorf("Get(%q) = %d bytes, %v; want the %d bytes put", e.key, len(got), err, len(e.value))
		}
	}
	// Byte order: "\xff..." sorts last.
	var keys []string
	for _, e := range list(t, b, bucketA, "") {
		keys = append(keys, e.key)
	}
	want := []string{"large", "nul\x00in\x00key", "utf-8 ключ 鍵", "\xff\xfe high bytes"}
	if !slices.Equal(keys, want) {
		t.Errorf("List keys = %q, want %q", keys, want)
	}
}

func testWriteCopies(t *testing.T, h *harness) {
	b := h.backend(t)
	ctx := context.Background()
	buf := []byte("put-value")
	if err := b.Put(ctx, bucketA, "put", buf); err != nil {
		t.Fatalf("Put: %v", err)
	}
	copy(buf, "XXXXXXXXX")
	wantValue(t, b, bucketA, "put", "put-value")

	buf = []byte("create-value")
	if err := b.Create(ctx, bucketA, "create", buf); err != nil {
		t.Fatalf("Create: %v", err)
	}
	copy(buf, "XXXXXXXXXXXX")
	wantValue(t, b, bucketA, "create", "create-value")
}

func testGetCopies(t *testing.T, h *harness) {
	b := h.backend(t)
	ctx := context.Background()
	mustPut(t, b, bucketA, "k", "original-value-0123456789")
	kept, err := b.Get(ctx, bucketA, "k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	snapshot := bytes.Clone(kept)
	// Later writes, enough for a backend that hands out its own memory to
	// reuse it, must not change a value the caller kept.
	for i := range 20 {
		mustPut(t, b, bucketA, "k", fmt.Sprintf("rewritten-value-%02d-0123456", i))
		mustPut(t, b, bucketA, fmt.Sprintf("filler-%02d", i), "filler-value-0123456789")
	}
	if err := b.Delete(ctx, bucketA, "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if !bytes.Equal(kept, snapshot) {
		t.Errorf("value kept from Get changed after later writes: %q, was %q", kept, snapshot)
	}

	// Modifying a returned value must not modify the stored one.
	mustPut(t, b, bucketA, "m", "stored")
	got, err := b.Get(ctx, bucketA, "m")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	copy(got, "XXXXXX")
	wantValue(t, b, bucketA, "m", "stored")
}

func testUpdateCreates(t *testing.T, h *harness) {
	b := h.backend(t)
	calls := 0
	err := b.Update(context.Background(), bucketA, "k", func(old []byte, exists bool) ([]byte, error) {
		calls++
		if exists || old != nil {
			t.Errorf("Update on a missing key saw old=%q exists=%v, want nil, false", old, exists)
		}
		return []byte("created"), nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if calls == 0 {
		t.Error("Update did not call fn")
	}
	wantValue(t, b, bucketA, "k", "created")
}

func testUpdateExisting(t *testing.T, h *harness) {
	b := h.backend(t)
	mustPut(t, b, bucketA, "k", "old")
	err := b.Update(context.Background(), bucketA, "k", func(old []byte, exists bool) ([]byte, error) {
		if !exists || string(old) != "old" {
			t.Errorf("Update saw old=%q exists=%v, want \"old\", true", old, exists)
		}
		return []byte("new"), nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	wantValue(t, b, bucketA, "k", "new")
}

func testUpdateInPlace(t *testing.T, h *harness) {
	b := h.backend(t)
	mustPut(t, b, bucketA, "k", "abc")
	err := b.Update(context.Background(), bucketA, "k", func(old []byte, exists bool) ([]byte, error) {
		if len(old) != 3 {
			return nil, fmt.Errorf("old = %q", old)
		}
		old[0] = 'X' // fn owns old: it is a copy, not the backend's memory
		return old, nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	wantValue(t, b, bucketA, "k", "Xbc")
}

func testUpdateDeletes(t *testing.T, h *harness) {
	b := h.backend(t)
	mustPut(t, b, bucketA, "k", "v")
	mustPut(t, b, bucketA, "other", "o")
	err := b.Update(context.Background(), bucketA, "k", func([]byte, bool) ([]byte, error) {
		return nil, nil
	})
	if err != nil {
		t.Fatalf("Update returning nil: %v", err)
	}
	wantMissing(t, b, bucketA, "k")
	wantList(t, b, bucketA, "", []kv{{"other", "o"}})
}

func testUpdateNilMissing(t *testing.T, h *harness) {
	b := h.backend(t)
	err := b.Update(context.Background(), bucketA, "k", func([]byte, bool) ([]byte, error) {
		return nil, nil
	})
	if err != nil {
		t.Errorf("Update returning nil on a missing key: %v", err)
	}
	wantMissing(t, b, bucketA, "k")
	wantList(t, b, bucketA, "", nil)
}

func testUpdateError(t *testing.T, h *harness) {
	b := h.backend(t)
	ctx := context.Background()
	boom := errors.New("boom")
	mustPut(t, b, bucketA, "k", "old")
	err := b.Update(ctx, bucketA, "k", func(old []byte, exists bool) ([]byte, error) {
		if len(old) > 0 {
			old[0] = 'X' // must not leak into the store when fn fails
		}
		return []byte("new"), boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Update whose fn failed = %v, want an error wrapping fn's", err)
	}
	wantValue(t, b, bucketA, "k", "old")

	err = b.Update(ctx, bucketA, "absent", func([]byte, bool) ([]byte, error) {
		return []byte("new"), boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Update whose fn failed on a missing key = %v, want fn's error", err)
	}
	wantMissing(t, b, bucketA, "absent")
	wantList(t, b, bucketA, "", []kv{{"k", "old"}})
}

func increment(old []byte, exists bool) ([]byte, error) {
	n := 0
	if exists {
		var err error
		if n, err = strconv.Atoi(string(old)); err != nil {
			return nil, fmt.Errorf("counter %q: %w", old, err)
		}
	}
	return []byte(strconv.Itoa(n + 1)), nil
}

func testConcurrentUpdates(t *testing.T, h *harness) {
	b := h.backend(t)
	const groups, perGroup = 2, 50
	// Two groups of 50 goroutines: one group starts on the missing key, so
	// creation races with increments too.
	errs := make(chan error, groups*perGroup)
	parallel(groups*perGroup, func(int) {
		errs <- b.Update(context.Background(), bucketA, "counter", increment)
	})
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Update: %v", err)
		}
	}
	wantValue(t, b, bucketA, "counter", strconv.Itoa(groups*perGroup))
}

func testConcurrentCreates(t *testing.T, h *harness) {
	b := h.backend(t)
	// Several rounds, each on its own key: a lost race shows in one of
	// them even when a busy machine happens to run one round's writers
	// one after the other.
	const n, rounds = 20, 5
	for r := range rounds {
		key := "k" + strconv.Itoa(r)
		results := make([]error, n)
		parallel(n, func(i int) {
			results[i] = b.Create(context.Background(), bucketA, key, []byte("writer-"+strconv.Itoa(i)))
		})
		winner := -1
		for i, err := range results {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("round %d: Create by writers %d and %d both succeeded", r, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, persistence.ErrConflict):
				t.Errorf("round %d: Create by writer %d = %v, want nil or ErrConflict", r, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no Create succeeded", r)
		}
		wantValue(t, b, bucketA, key, "writer-"+strconv.Itoa(winner))
	}
}

func testListPrefix(t *testing.T, h *harness) {
	b := h.backend(t)
	for _, k := range []string{"user/2", "user/10", "user/1", "users", "user", "usea", "session/1", "user/3"} {
		mustPut(t, b, bucketA, k, "v:"+k)
	}
	mustPut(t, b, bucketB, "user/0", "other bucket")
	wantList(t, b, bucketA, "user/", []kv{
		{"user/1", "v:user/1"}, {"user/10", "v:user/10"}, {"user/2", "v:user/2"}, {"user/3", "v:user/3"},
	})
	wantList(t, b, bucketA, "user", []kv{
		{"user", "v:user"}, {"user/1", "v:user/1"}, {"user/10", "v:user/10"},
		{"user/2", "v:user/2"}, {"user/3", "v:user/3"}, {"users", "v:users"},
	})
	wantList(t, b, bucketA, "", []kv{
		{"session/1", "v:session/1"}, {"usea", "v:usea"}, {"user", "v:user"}, {"user/1", "v:user/1"},
		{"user/10", "v:user/10"}, {"user/2", "v:user/2"}, {"user/3", "v:user/3"}, {"users", "v:users"},
	})
	wantList(t, b, bucketA, "user/3", []kv{{"user/3", "v:user/3"}})
	wantList(t, b, bucketA, "zzz", nil)
	wantList(t, b, bucketB, "", []kv{{"user/0", "other bucket"}})
}

func testListMany(t *testing.T, h *harness) {
	b := h.backend(t)
	const n, writers = 1000, 20
	// Written concurrently so a group-committing backend stays fast.
	parallel(writers, func(w int) {
		for i := w; i < n; i += writers {
			k := fmt.Sprintf("key-%04d", i)
			if err := b.Put(context.Background(), bucketA, k, []byte("v"+k)); err != nil {
				t.Errorf("Put(%q): %v", k, err)
				return
			}
		}
	})
	var want []kv
	for i := range n {
		k := fmt.Sprintf("key-%04d", i)
		want = append(want, kv{k, "v" + k})
	}
	got := list(t, b, bucketA, "")
	if !slices.Equal(got, want) {
		t.Errorf("List of %d keys returned %d entries, first difference at %d", n, len(got), firstDiff(got, want))
	}
	got = list(t, b, bucketA, "key-05")
	if !slices.Equal(got, want[500:600]) {
		t.Errorf("List(prefix key-05) returned %d entries, want 100, first difference at %d", len(got), firstDiff(got, want[500:600]))
	}
}

func firstDiff(a, b []kv) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func testListEmptyBucket(t *testing.T, h *harness) {
	b := h.backend(t)
	calls := 0
	err := b.List(context.Background(), bucketEmpty, "", func(string, []byte) error {
		calls++
		return nil
	})
	if err != nil || calls != 0 {
		t.Errorf("List of an empty bucket: %d calls, %v; want 0, nil", calls, err)
	}
}

// A bucket used but not declared is a bug that must show in the first
// test that touches it: every operation refuses it with ErrUnknownBucket
// (never ErrNotFound, which would pass for "absent") and writes nothing.
func testUndeclaredBucket(t *testing.T, h *harness) {
	ctx := context.Background()
	b := h.backend(t)
	mustPut(t, b, bucketA, "k", "v")
	fnCalled := false
	for _, bucket := range undeclared {
		calls := []struct {
			name string
			call func() error
		}{
			{"Get", func() error { _, err := b.Get(ctx, bucket, "k"); return err }},
			{"Create", func() error { return b.Create(ctx, bucket, "new", []byte("v")) }},
			{"Put", func() error { return b.Put(ctx, bucket, "k", []byte("changed")) }},
			{"Delete", func() error { return b.Delete(ctx, bucket, "k") }},
			{"Update", func() error {
				return b.Update(ctx, bucket, "k", func([]byte, bool) ([]byte, error) {
					fnCalled = true
					return []byte("changed"), nil
				})
			}},
			{"List", func() error {
				return b.List(ctx, bucket, "", func(string, []byte) error { fnCalled = true; return nil })
			}},
		}
		for _, c := range calls {
			err := safe(t, c.name, c.call)
			if !errors.Is(err, persistence.ErrUnknownBucket) {
				t.Errorf("%s in undeclared bucket %q = %v, want ErrUnknownBucket", c.name, bucket, err)
			}
		}
	}
	if fnCalled {
		t.Error("a callback ran for an undeclared bucket")
	}
	wantOnly(t, b, map[persistence.Bucket][]kv{bucketA: {{"k", "v"}}})
}

// Every declared bucket takes writes: a backend with its own, stale list
// of buckets fails here rather than in production.
func testDeclaredBuckets(t *testing.T, h *harness) {
	ctx := context.Background()
	b := h.backend(t)
	want := map[persistence.Bucket][]kv{}
	for _, spec := range persistence.Buckets() {
		mustPut(t, b, spec.Name, "k", string(spec.Name))
		want[spec.Name] = []kv{{"k", string(spec.Name)}}
	}
	wantOnly(t, b, want)
	for _, spec := range persistence.Buckets() {
		if err := b.Delete(ctx, spec.Name, "k"); err != nil {
			t.Errorf("Delete in %q: %v", spec.Name, err)
		}
	}
	wantOnly(t, b, nil)
}

// wantOnly checks that the declared buckets hold exactly want (a bucket
// missing from want is empty).
func wantOnly(t *testing.T, b persistence.Backend, want map[persistence.Bucket][]kv) {
	t.Helper()
	for _, spec := range persistence.Buckets() {
		wantList(t, b, spec.Name, "", want[spec.Name])
	}
}

func testListStops(t *testing.T, h *harness) {
	b := h.backend(t)
	for _, k := range []string{"a", "b", "c"} {
		mustPut(t, b, bucketA, k, k)
	}
	stop := errors.New("stop")
	var seen []string
	err := b.List(context.Background(), bucketA, "", func(k string, _ []byte) error {
		seen = append(seen, k)
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("List whose fn failed = %v, want fn's error", err)
	}
	if !slices.Equal(seen, []string{"a"}) {
		t.Errorf("List went on after fn failed: saw %q, want [a]", seen)
	}
}

// A sweeper lists a bucket and deletes what it finds: fn must be able to
// use the backend without deadlocking.
func testListCallbackWrites(t *testing.T, h *harness) {
	b := h.backend(t)
	const n, writers = 300, 20
	parallel(writers, func(w int) {
		for i := w; i < n; i += writers {
			if err := b.Put(context.Background(), bucketA, fmt.Sprintf("k-%03d", i), []byte("v")); err != nil {
				t.Errorf("Put: %v", err)
				return
			}
		}
	})
	seen := 0
	withWatchdog(t, "List whose fn writes", func() {
		err := b.List(context.Background(), bucketA, "", func(k string, _ []byte) error {
			seen++
			return b.Delete(context.Background(), bucketA, k)
		})
		if err != nil {
			t.Errorf("List whose fn deletes: %v", err)
		}
	})
	if seen != n {
		t.Errorf("List whose fn deletes visited %d keys, want %d", seen, n)
	}
	wantList(t, b, bucketA, "", nil)
}

func testBucketsIsolated(t *testing.T, h *harness) {
	b := h.backend(t)
	mustPut(t, b, bucketA, "k", "in A")
	mustPut(t, b, bucketB, "k", "in B")
	wantValue(t, b, bucketA, "k", "in A")
	wantValue(t, b, bucketB, "k", "in B")
	if err := b.Delete(context.Background(), bucketA, "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, b, bucketA, "k")
	wantValue(t, b, bucketB, "k", "in B")
	if err := b.Create(context.Background(), bucketA, "k", []byte("again A")); err != nil {
		t.Errorf("Create in A while B has the key: %v", err)
	}
	wantList(t, b, bucketA, "", []kv{{"k", "again A"}})
	wantList(t, b, bucketB, "", []kv{{"k", "in B"}})
}

func testReopen(t *testing.T, h *harness) {
	ctx := context.Background()
	b := h.backend(t)
	mustPut(t, b, bucketA, "put", "p")
	mustPut(t, b, bucketA, "deleted", "d")
	mustPut(t, b, bucketB, "put", "other")
	if err := b.Create(ctx, bucketA, "created", []byte("c")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := b.Update(ctx, bucketA, "counter", increment); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := b.Delete(ctx, bucketA, "deleted"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	b = h.backend(t)
	wantValue(t, b, bucketA, "put", "p")
	wantValue(t, b, bucketA, "created", "c")
	wantValue(t, b, bucketA, "counter", "1")
	wantValue(t, b, bucketB, "put", "other")
	wantMissing(t, b, bucketA, "deleted")
	wantList(t, b, bucketA, "", []kv{{"counter", "1"}, {"created", "c"}, {"put", "p"}})
	// And the reopened backend takes writes.
	if err := b.Update(ctx, bucketA, "counter", increment); err != nil {
		t.Fatalf("Update after reopen: %v", err)
	}
	wantValue(t, b, bucketA, "counter", "2")
}

func testClosed(t *testing.T, h *harness) {
	ctx := context.Background()
	b := h.backend(t)
	mustPut(t, b, bucketA, "k", "before close")
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	fnCalled := false
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := b.Get(ctx, bucketA, "k"); return err }},
		{"Create", func() error { return b.Create(ctx, bucketA, "new", []byte("v")) }},
		{"Put", func() error { return b.Put(ctx, bucketA, "k", []byte("after close")) }},
		{"Delete", func() error { return b.Delete(ctx, bucketA, "k") }},
		{"Update", func() error {
			return b.Update(ctx, bucketA, "k", func([]byte, bool) ([]byte, error) {
				fnCalled = true
				return []byte("after close"), nil
			})
		}},
		{"List", func() error {
			return b.List(ctx, bucketA, "", func(string, []byte) error { fnCalled = true; return nil })
		}},
		{"Ping", func() error { return b.Ping(ctx) }},
		{"Close", func() error { return b.Close() }},
	}
	for _, c := range calls {
		if err := safe(t, c.name+" after Close", c.call); !errors.Is(err, persistence.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", c.name, err)
		}
	}
	if fnCalled {
		t.Error("a callback ran after Close")
	}
	// Nothing attempted after Close reached the data.
	b = h.backend(t)
	wantValue(t, b, bucketA, "k", "before close")
	wantMissing(t, b, bucketA, "new")
}

func testCancelled(t *testing.T, h *harness) {
	b := h.backend(t)
	mustPut(t, b, bucketA, "k", "old")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()

	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := b.Get(ctx, bucketA, "k"); return err }},
		{"Create", func(ctx context.Context) error { return b.Create(ctx, bucketA, "new", []byte("v")) }},
		{"Put", func(ctx context.Context) error { return b.Put(ctx, bucketA, "k", []byte("changed")) }},
		{"Delete", func(ctx context.Context) error { return b.Delete(ctx, bucketA, "k") }},
		{"Update", func(ctx context.Context) error {
			return b.Update(ctx, bucketA, "k", func([]byte, bool) ([]byte, error) { return []byte("changed"), nil })
		}},
		{"Update delete", func(ctx context.Context) error {
			return b.Update(ctx, bucketA, "k", func([]byte, bool) ([]byte, error) { return nil, nil })
		}},
		{"List", func(ctx context.Context) error {
			return b.List(ctx, bucketA, "", func(string, []byte) error { return nil })
		}},
		{"Ping", func(ctx context.Context) error { return b.Ping(ctx) }},
	}
	for _, c := range calls {
		if err := safe(t, c.name, func() error { return c.call(cancelled) }); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", c.name, err)
		}
		if err := safe(t, c.name, func() error { return c.call(expired) }); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with an expired context = %v, want context.DeadlineExceeded", c.name, err)
		}
	}
	wantValue(t, b, bucketA, "k", "old")
	wantMissing(t, b, bucketA, "new")
	wantList(t, b, bucketA, "", []kv{{"k", "old"}})
}

func testEmptyNames(t *testing.T, h *harness) {
	ctx := context.Background()
	b := h.backend(t)
	mustPut(t, b, bucketA, "k", "v")
	update := func([]byte, bool) ([]byte, error) { return []byte("v"), nil }
	noop := func(string, []byte) error { return nil }
	calls := []struct {
		name string
		call func() error
	}{
		{"Get empty bucket", func() error { _, err := b.Get(ctx, "", "k"); return err }},
		{"Get empty key", func() error { _, err := b.Get(ctx, bucketA, ""); return err }},
		{"Create empty bucket", func() error { return b.Create(ctx, "", "k", []byte("v")) }},
		{"Create empty key", func() error { return b.Create(ctx, bucketA, "", []byte("v")) }},
		{"Put empty bucket", func() error { return b.Put(ctx, "", "k", []byte("v")) }},
		{"Put empty key", func() error { return b.Put(ctx, bucketA, "", []byte("v")) }},
		{"Delete empty bucket", func() error { return b.Delete(ctx, "", "k") }},
		{"Delete empty key", func() error { return b.Delete(ctx, bucketA, "") }},
		{"Update empty bucket", func() error { return b.Update(ctx, "", "k", update) }},
		{"Update empty key", func() error { return b.Update(ctx, bucketA, "", update) }},
		{"List empty bucket", func() error { return b.List(ctx, "", "", noop) }},
	}
	for _, c := range calls {
		err := safe(t, c.name, c.call)
		switch {
		case err == nil:
			t.Errorf("%s: no error, want one", c.name)
		case errors.Is(err, persistence.ErrNotFound), errors.Is(err, persistence.ErrConflict):
			// Bad input is a caller bug, not an answer about the data.
			t.Errorf("%s = %v, want an invalid-input error, not a data sentinel", c.name, err)
		}
	}
	// Nothing landed anywhere else (in a bucket named after the key, say).
	wantOnly(t, b, map[persistence.Bucket][]kv{bucketA: {{"k", "v"}}})
}

func testNilCallbacks(t *testing.T, h *harness) {
	ctx := context.Background()
	b := h.backend(t)
	mustPut(t, b, bucketA, "k", "v")
	if err := safe(t, "Update with nil fn", func() error { return b.Update(ctx, bucketA, "k", nil) }); err == nil {
		t.Error("Update with a nil fn: no error, want one")
	}
	if err := safe(t, "List with nil fn", func() error { return b.List(ctx, bucketA, "", nil) }); err == nil {
		t.Error("List with a nil fn: no error, want one")
	}
	wantValue(t, b, bucketA, "k", "v")
}
