package snapshot_test

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
	"authrim/persistence"
	"authrim/persistence/bbolt"
	"authrim/persistence/etcd"
	"authrim/persistence/snapshot"
)

var (
	measureSessions = flag.Int("measure-sessions", 0,
		"TestMeasureBackupRestore: sessions in the measured store (0 skips it; BENCHMARKS.md uses 100000)")
	measureMembers = flag.Int("measure-members", 1, "TestMeasureBackupRestore: etcd members (in this process, loopback)")
)

// openEtcdMembers starts n etcd members of one new cluster (each waits
// for a quorum, so they start together) and returns a store on the
// first.
func openEtcdMembers(t *testing.T, n int) *etcd.Store {
	t.Helper()
	if n == 1 {
		return openEtcd(t)
	}
	type m struct{ name, peer, client string }
	var ms []m
	var initial []string
	for i := range n {
		x := m{fmt.Sprintf("m%d", i+1), addr(t), addr(t)}
		ms = append(ms, x)
		initial = append(initial, x.name+"=http://"+x.peer)
	}
	dir := t.TempDir()
	members := make([]*etcd.Member, n)
	errs := make(chan error, n)
	for i, x := range ms {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var err error
			members[i], err = etcd.StartMember(ctx, etcd.MemberConfig{
				Name: x.name, Dir: filepath.Join(dir, x.name), PeerListen: x.peer, ClientListen: x.client,
				InitialCluster: strings.Join(initial, ","), Token: "measure",
			})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, m := range members[1:] {
			m.Close()
		}
	})
	cli, err := etcd.Dial(context.Background(), []string{members[0].Endpoint()}, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := etcd.New(cli, "authrim", func() error {
		err := cli.Close()
		members[0].Close()
		return err
	})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sessionSize is the size of a stored session record used by the
// measurement: a signed-in session with one client's grant and refresh
// family is about this big (SessionState protobuf).
const sessionSize = 1024

// TestMeasureBackupRestore logs how long a backup and a restore of a
// store with -measure-sessions sessions take on each backend (not
// asserted; BENCHMARKS.md, "Backup and restore"):
//
//	go test ./persistence/snapshot -run TestMeasureBackupRestore -measure-sessions 100000 [-measure-members 3] -v
func TestMeasureBackupRestore(t *testing.T) {
	n := *measureSessions
	if n == 0 {
		t.Skip("run with -measure-sessions N")
	}
	// The store to back up, as a bbolt node's file: n sessions, a key
	// set, a user, the version record.
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(src, 0o700); err != nil {
		t.Fatal(err)
	}
	ks, _ := proto.Marshal(&messages.KeySet{Keys: []*messages.Key{{Kid: "k1"}, {Kid: "k2"}}})
	db, err := bolt.Open(filepath.Join(src, bbolt.FileName), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, sessionSize)
	for i := 0; i < n; i += 10000 {
		err := db.Update(func(tx *bolt.Tx) error {
			if i == 0 {
				for _, s := range persistence.Buckets() {
					if _, err := tx.CreateBucket([]byte(s.Name)); err != nil {
						return err
					}
				}
				tx.Bucket([]byte(persistence.BucketKeys)).Put([]byte("default"), ks)
				tx.Bucket([]byte(persistence.BucketUsers)).Put([]byte("alice"), []byte(`{"username":"alice"}`))
				tx.Bucket([]byte(persistence.BucketMeta)).Put([]byte(persistence.KeySchemaVersion), []byte(strconv.Itoa(persistence.SchemaVersion())))
			}
			b := tx.Bucket([]byte(persistence.BucketSessions))
			for j := i; j < min(i+10000, n); j++ {
				rand.Read(value)
				if err := b.Put([]byte(fmt.Sprintf("session-%08d", j)), value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	// bbolt: backup = one read transaction streamed to a file, then the
	// CLI's check; restore = the CLI's check, copy and check again.
	store, err := bbolt.Open(src, bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bbolt.backup")
	start := time.Now()
	size := writeFile(t, out, store.WriteTo)
	if _, err := snapshot.Check(out); err != nil {
		t.Fatal(err)
	}
	t.Logf("bbolt backup of %d sessions: %s, %d MiB", n, time.Since(start).Round(time.Millisecond), size>>20)
	store.Close()
	start = time.Now()
	if _, err := snapshot.Check(out); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), bbolt.FileName)
	writeFile(t, restored, func(w io.Writer) (int64, error) {
		f, err := os.Open(out)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		return io.Copy(w, f)
	})
	if _, err := snapshot.Check(restored); err != nil {
		t.Fatal(err)
	}
	t.Logf("bbolt restore of %d sessions: %s", n, time.Since(start).Round(time.Millisecond))

	// etcd (one embedded member): restore = the seed import into an
	// empty store; backup = every record at one revision into a file,
	// then the CLI's check.
	es := openEtcdMembers(t, *measureMembers)
	start = time.Now()
	if _, err := lease(t, es, "n1").Seed(t.Context(), "measure", func(fn func(persistence.Bucket, string, []byte) error) error {
		return snapshot.Each(out, fn)
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("etcd (%d members) restore (seed import) of %d sessions: %s", *measureMembers, n, time.Since(start).Round(time.Millisecond))
	eout := filepath.Join(t.TempDir(), "etcd.backup")
	start = time.Now()
	size = writeFile(t, eout, snapshot.Exported{Source: es, Dir: t.TempDir()}.WriteTo)
	info, err := snapshot.Check(eout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("etcd (%d members) backup of %d sessions: %s, %d MiB (%s)", *measureMembers, n, time.Since(start).Round(time.Millisecond), size>>20, info)
	if info.Sessions != n {
		t.Fatalf("backup holds %d sessions, want %d", info.Sessions, n)
	}
}

func writeFile(t *testing.T, path string, write func(io.Writer) (int64, error)) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := write(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	return n
}
