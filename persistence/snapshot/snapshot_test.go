package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
	"authrim/internal/freeport"
	"authrim/persistence"
	"authrim/persistence/bbolt"
	"authrim/persistence/etcd"
	"authrim/persistence/snapshot"
)

func addr(t *testing.T) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// openEtcd runs a one-member etcd in a new directory and returns a store
// on it.
func openEtcd(t *testing.T) *etcd.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := etcd.StartMember(ctx, etcd.MemberConfig{
		Name: "m1", Dir: filepath.Join(t.TempDir(), "etcd"), PeerListen: addr(t), ClientListen: addr(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := etcd.Dial(ctx, []string{m.Endpoint()}, nil, 5*time.Second)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	s := etcd.New(cli, "authrim", func() error {
		err := cli.Close()
		m.Close()
		return err
	})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func lease(t *testing.T, s *etcd.Store, node string) *etcd.Lease {
	t.Helper()
	l, err := etcd.Grant(context.Background(), s, etcd.LeaseConfig{Node: node, TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

type record struct {
	bucket persistence.Bucket
	key    string
	value  string
}

// fill writes records into every declared bucket (a real key set in
// keys, so the file checks) and returns them in export order.
func fill(t *testing.T, b persistence.Backend) []record {
	t.Helper()
	ks, err := proto.Marshal(&messages.KeySet{Keys: []*messages.Key{{Kid: "k1"}, {Kid: "k2"}}})
	if err != nil {
		t.Fatal(err)
	}
	var recs []record
	for _, spec := range persistence.Buckets() {
		switch spec.Name {
		case persistence.BucketMeta:
			recs = append(recs, record{spec.Name, persistence.KeySchemaVersion, strconv.Itoa(persistence.SchemaVersion())})
		case persistence.BucketKeys:
			recs = append(recs, record{spec.Name, "default", string(ks)})
		default:
			for i := range 3 {
				recs = append(recs, record{spec.Name, fmt.Sprintf("%s-%d", spec.Name, i), fmt.Sprintf("value %d of %s\x00\xff", i, spec.Name)})
			}
		}
	}
	for _, r := range recs {
		if err := b.Put(t.Context(), r.bucket, r.key, []byte(r.value)); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(recs, func(a, b record) int {
		return cmpStrings(string(a.bucket)+"\x00"+a.key, string(b.bucket)+"\x00"+b.key)
	})
	return recs
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func exported(t *testing.T, s *etcd.Store) []record {
	t.Helper()
	var got []record
	if _, err := s.Export(t.Context(), func(b persistence.Bucket, k string, v []byte) error {
		got = append(got, record{b, k, string(v)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func fileRecords(t *testing.T, path string) []record {
	t.Helper()
	var got []record
	if err := snapshot.Each(path, func(b persistence.Bucket, k string, v []byte) error {
		got = append(got, record{b, k, string(v)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b record) int {
		return cmpStrings(string(a.bucket)+"\x00"+a.key, string(b.bucket)+"\x00"+b.key)
	})
	return got
}

// An etcd store's backup holds exactly its records (every bucket, every
// key, byte for byte), seeds a new etcd store with exactly them, and the
// file also opens as a bbolt node's database with the same records.
func TestEtcdBackupRoundTrip(t *testing.T) {
	src := openEtcd(t)
	want := fill(t, src)

	var buf bytes.Buffer
	dir := t.TempDir()
	if _, err := (snapshot.Exported{Source: src, Dir: dir}).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	file := filepath.Join(t.TempDir(), "b.db")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := snapshot.Check(file)
	if err != nil {
		t.Fatal(err)
	}
	if info.Keys != 2 || info.Users != 3 || info.Records != len(want) || info.SchemaVersion != persistence.SchemaVersion() {
		t.Errorf("info %+v", info)
	}
	if got := fileRecords(t, file); !slices.Equal(got, want) {
		t.Fatalf("file records\n%v\nwant\n%v", got, want)
	}

	// Into a new etcd store.
	dst := openEtcd(t)
	l := lease(t, dst, "n1")
	imported, err := l.Seed(t.Context(), "backup-1", func(fn func(persistence.Bucket, string, []byte) error) error {
		return snapshot.Each(file, fn)
	})
	if err != nil || !imported {
		t.Fatalf("seed: %v %v", imported, err)
	}
	if got := exported(t, dst); !slices.Equal(got, want) {
		t.Fatalf("seeded records\n%v\nwant\n%v", got, want)
	}
	// Another member with the same seed finds it done.
	again, err := lease(t, dst, "n2").Seed(t.Context(), "backup-1", func(fn func(persistence.Bucket, string, []byte) error) error {
		t.Error("the second member read the seed")
		return nil
	})
	if err != nil || again {
		t.Errorf("second seed: %v %v", again, err)
	}
	if _, unfinished, err := dst.SeedUnfinished(t.Context()); err != nil || unfinished {
		t.Errorf("seed unfinished: %v %v", unfinished, err)
	}
	// A later backup of the seeded store is the same records (the seed
	// mark is not one).
	if got := exported(t, dst); !slices.Equal(got, want) {
		t.Errorf("records after the second seed differ")
	}

	// And as a bbolt node's database.
	bdir := t.TempDir()
	if err := os.WriteFile(filepath.Join(bdir, bbolt.FileName), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	bs, err := bbolt.Open(bdir, bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	for _, r := range want {
		v, err := bs.Get(t.Context(), r.bucket, r.key)
		if err != nil || string(v) != r.value {
			t.Errorf("bbolt %s/%s: %q %v", r.bucket, r.key, v, err)
		}
	}
}

// A seed refuses a store that holds records, and changes nothing in it.
func TestSeedRefusesNonEmptyStore(t *testing.T) {
	s := openEtcd(t)
	if err := s.Put(t.Context(), persistence.BucketUsers, "someone", []byte("x")); err != nil {
		t.Fatal(err)
	}
	before := exported(t, s)
	_, err := lease(t, s, "n1").Seed(t.Context(), "backup-1", func(fn func(persistence.Bucket, string, []byte) error) error {
		return fn(persistence.BucketUsers, "someone", []byte("overwritten"))
	})
	if !errors.Is(err, etcd.ErrNotEmpty) {
		t.Fatalf("seed into a non-empty store: %v, want ErrNotEmpty", err)
	}
	if after := exported(t, s); !slices.Equal(before, after) {
		t.Errorf("a refused seed changed the store: %v", after)
	}
	if _, unfinished, _ := s.SeedUnfinished(t.Context()); unfinished {
		t.Error("a refused seed left a mark")
	}
}

// writeDB writes a bbolt file with the given buckets and records.
func writeDB(t *testing.T, path string, fill func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fill); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	ks, _ := proto.Marshal(&messages.KeySet{Keys: []*messages.Key{{Kid: "k1"}}})
	withVersion := func(v string, extra ...string) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			k, _ := tx.CreateBucket([]byte(persistence.BucketKeys))
			if err := k.Put([]byte("default"), ks); err != nil {
				return err
			}
			if v != "" {
				m, _ := tx.CreateBucket([]byte(persistence.BucketMeta))
				if err := m.Put([]byte(persistence.KeySchemaVersion), []byte(v)); err != nil {
					return err
				}
			}
			for _, b := range extra {
				if _, err := tx.CreateBucket([]byte(b)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	newer := strconv.Itoa(persistence.SchemaVersion() + 1)
	for _, tc := range []struct {
		name    string
		fill    func(tx *bolt.Tx) error
		wantErr error
		want    string
	}{
		{"current schema", withVersion(strconv.Itoa(persistence.SchemaVersion())), nil, ""},
		{"no version record (before version 1 had one)", withVersion(""), nil, ""},
		{"newer schema", withVersion(newer), persistence.ErrSchemaTooNew, "schema version " + newer},
		{"newer schema with a bucket this release lacks", withVersion(newer, "future"), persistence.ErrSchemaTooNew, "release that knows"},
		{"bad version record", withVersion("02"), snapshot.ErrNotABackup, ""},
		{"undeclared bucket", withVersion("1", "things"), snapshot.ErrNotABackup, `"things"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "b.db")
			writeDB(t, p, tc.fill)
			_, err := snapshot.Check(p)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.wantErr, tc.want)
			}
		})
	}
}

// Two members with the schedule: every tick, only the one holding the
// schedule's ownership writes, and its directory keeps the newest Keep
// backups. When it goes (its lease ends), the other takes over.
func TestScheduleOneMemberWritesAndPrunes(t *testing.T) {
	s := openEtcd(t)
	fill(t, s)
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return clock }
	la, lb := lease(t, s, "a"), lease(t, s, "b")
	var results []error
	mk := func(l *etcd.Lease) *snapshot.Schedule {
		return &snapshot.Schedule{
			Every: time.Hour, Dir: filepath.Join(t.TempDir(), "backups"), Keep: 3, Owners: l,
			Snapshot: snapshot.Exported{Source: s, Dir: t.TempDir()}.WriteTo, Now: now,
			Result: func(err error) { results = append(results, err) },
		}
	}
	a, b := mk(la), mk(lb)
	files := func(sc *snapshot.Schedule) []string {
		m, _ := filepath.Glob(filepath.Join(sc.Dir, "*"))
		return m
	}
	for i := range 5 {
		clock = clock.Add(time.Hour)
		pa, err := a.Tick(t.Context())
		if err != nil || pa == "" {
			t.Fatalf("tick %d: a wrote %q %v", i, pa, err)
		}
		if pb, err := b.Tick(t.Context()); err != nil || pb != "" {
			t.Fatalf("tick %d: b wrote %q %v while a writes", i, pb, err)
		}
	}
	got := files(a)
	if len(got) != 3 || len(files(b)) != 0 {
		t.Fatalf("a has %v, b has %v; want a's 3 newest only", got, files(b))
	}
	for i, p := range got {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", p, fi.Mode(), err)
		}
		// The three newest: hours 3, 4, 5.
		if want := clock.Add(time.Duration(i-2) * time.Hour).Format("20060102T150405.000Z"); filepath.Base(p) != snapshot.FilePrefix+want+snapshot.FileSuffix {
			t.Errorf("kept %s, want the one of %s", filepath.Base(p), want)
		}
		if _, err := snapshot.Check(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if len(results) != 5 {
		t.Errorf("results reported %d times, want 5 (a's attempts only)", len(results))
	}

	// a stops: b writes from its next tick on.
	if err := la.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Hour)
	if pb, err := b.Tick(t.Context()); err != nil || pb == "" {
		t.Fatalf("after a left, b wrote %q %v", pb, err)
	}
}

// A failed backup is reported and leaves no file behind.
func TestScheduleFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	var got error
	sc := &snapshot.Schedule{
		Every: time.Hour, Dir: dir, Keep: 2, Owners: persistence.LocalOwners(nil),
		Snapshot: func(w io.Writer) (int64, error) {
			_, _ = w.Write([]byte("partial"))
			return 7, errors.New("store closed")
		},
		Result: func(err error) { got = err },
	}
	if _, err := sc.Tick(t.Context()); err == nil || got == nil {
		t.Fatalf("tick: %v, reported %v", err, got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("files left: %v", left)
	}
}

// An import that stops half way leaves its mark: the store says which
// backup it holds part of, another backup is refused, and the same one
// imports again over what was written, to exactly its records.
func TestSeedResumesAfterAFailure(t *testing.T) {
	src := openEtcd(t)
	want := fill(t, src)
	file := filepath.Join(t.TempDir(), "b.db")
	path, _, err := snapshot.Build(t.Context(), t.TempDir(), src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, file); err != nil {
		t.Fatal(err)
	}

	dst := openEtcd(t)
	l := lease(t, dst, "n1")
	broken := errors.New("disk full")
	n := 0
	_, err = l.Seed(t.Context(), "backup-1", func(fn func(persistence.Bucket, string, []byte) error) error {
		return snapshot.Each(file, func(b persistence.Bucket, k string, v []byte) error {
			if n++; n > len(want)/2 {
				return broken
			}
			return fn(b, k, v)
		})
	})
	if !errors.Is(err, broken) {
		t.Fatalf("interrupted seed: %v", err)
	}
	if id, unfinished, err := dst.SeedUnfinished(t.Context()); err != nil || !unfinished || id != "backup-1" {
		t.Fatalf("after the failure: %q %v %v", id, unfinished, err)
	}
	each := func(fn func(persistence.Bucket, string, []byte) error) error { return snapshot.Each(file, fn) }
	if _, err := l.Seed(t.Context(), "backup-2", each); !errors.Is(err, etcd.ErrNotEmpty) {
		t.Fatalf("another backup over a half import: %v", err)
	}
	if imported, err := l.Seed(t.Context(), "backup-1", each); err != nil || !imported {
		t.Fatalf("resumed seed: %v %v", imported, err)
	}
	if got := exported(t, dst); !slices.Equal(got, want) {
		t.Fatalf("records after the resumed seed\n%v\nwant\n%v", got, want)
	}
	if _, unfinished, _ := dst.SeedUnfinished(t.Context()); unfinished {
		t.Error("the resumed seed left its mark unfinished")
	}
}
