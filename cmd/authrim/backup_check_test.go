package main

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"authrim/persistence"
	"authrim/persistence/bbolt"
)

// goodSnapshot is a complete backup of a store holding one large record.
func goodSnapshot(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	store, err := bbolt.Open(dir, bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Put(t.Context(), persistence.BucketUsers, "u", bytes.Repeat([]byte("x"), 256<<10)); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if _, err := store.WriteTo(&snap); err != nil {
		t.Fatal(err)
	}
	return snap.Bytes()
}

// A download that is not a complete backup (cut short, garbage, another
// bbolt file) is refused, and the previous backup at FILE is left as it
// was, with no temporary file beside it.
func TestBackupRefusesBadDownloadAndKeepsFile(t *testing.T) {
	snap := goodSnapshot(t)
	random := make([]byte, 64<<10)
	rand.Read(random)
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"truncated", snap[:len(snap)/2], "truncated"},
		{"random bytes", random, "not a bbolt database"},
		{"empty", nil, "not a bbolt database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer "+backupToken {
					http.Error(w, "no", http.StatusUnauthorized)
					return
				}
				w.Header().Set("Content-Type", "application/octet-stream")
				_, _ = w.Write(tc.body)
			}))
			defer srv.Close()
			file := filepath.Join(t.TempDir(), "authrim.backup")
			previous := []byte("the previous backup")
			if err := os.WriteFile(file, previous, 0o600); err != nil {
				t.Fatal(err)
			}
			err := backupRun(t.Context(), []string{"--out", file, "--server", srv.URL, "--admin-token", backupToken}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
			if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, previous) {
				t.Errorf("FILE changed: %q %v", got, err)
			}
			if left, _ := filepath.Glob(file + "?*"); len(left) != 0 {
				t.Errorf("files left beside FILE: %v", left)
			}
		})
	}
}

// writeBackup writes a bbolt file holding the keys bucket and, unless
// version is "", that schema version record.
func writeBackup(t *testing.T, path, version string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket([]byte(persistence.BucketKeys)); err != nil {
			return err
		}
		m, err := tx.CreateBucket([]byte(persistence.BucketMeta))
		if err != nil || version == "" {
			return err
		}
		return m.Put([]byte(persistence.KeySchemaVersion), []byte(version))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// A backup from a newer release (higher schema version) is refused by
// both kinds of restore with a message that says what to do, and the
// target is not touched; an older one is accepted (the node migrates it).
func TestRestoreChecksTheSchemaVersion(t *testing.T) {
	src := t.TempDir()
	newer := filepath.Join(src, "newer.backup")
	writeBackup(t, newer, strconv.Itoa(persistence.SchemaVersion()+1))
	unversioned := filepath.Join(src, "v1.backup")
	writeBackup(t, unversioned, "")
	for _, backend := range []string{"bbolt", "etcd"} {
		t.Run(backend, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "data")
			err := restoreRun([]string{"--backend", backend, "--from", newer, "--data", target}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "comes from a newer release") || !strings.Contains(err.Error(), "restore it with a release that knows version") {
				t.Fatalf("newer backup: %v", err)
			}
			if _, err := os.Stat(target); !os.IsNotExist(err) {
				t.Errorf("a refused restore touched the target: %v", err)
			}
			if err := restoreRun([]string{"--backend", backend, "--from", unversioned, "--data", target}, io.Discard); err != nil {
				t.Errorf("a backup without a version record (version 1): %v", err)
			}
		})
	}
}

// A seed is for a new member only: a storage.dir that holds an etcd
// member's data or a seed already is refused and left alone.
func TestRestoreSeedRefusesUsedDirectory(t *testing.T) {
	from := filepath.Join(t.TempDir(), "b.backup")
	if err := os.WriteFile(from, goodSnapshot(t), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "etcd"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := restoreRun([]string{"--backend", "etcd", "--from", from, "--data", dir}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "seeds only a new cluster") {
		t.Fatalf("seed into a used member: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "restore-seed.db")); !os.IsNotExist(err) {
		t.Errorf("seed written: %v", err)
	}

	fresh := t.TempDir()
	var out bytes.Buffer
	if err := restoreRun([]string{"--backend", "etcd", "--from", from, "--data", fresh}, &out); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(fresh, "restore-seed.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("seed: %v %v", fi, err)
	}
	if err := restoreRun([]string{"--backend", "etcd", "--from", from, "--data", fresh}, io.Discard); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second seed: %v", err)
	}
	if err := restoreRun([]string{"--backend", "etcd", "--force", "--from", from, "--data", fresh}, io.Discard); err == nil {
		t.Error("--force with --backend etcd accepted")
	}
	if err := restoreRun([]string{"--backend", "mysql", "--from", from, "--data", fresh}, io.Discard); err == nil {
		t.Error("--backend mysql accepted")
	}
}
