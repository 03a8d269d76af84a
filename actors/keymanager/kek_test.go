package keymanager

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestKEKFileIsCreatedPrivateAndReloaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "kek")
	k1, err := LoadOrCreateKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("kek mode %v, want 0600", st.Mode().Perm())
	}
	sealed, err := k1.Wrap("kid-1", []byte("secret key material"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret key material")) {
		t.Fatal("wrapped key contains the plaintext")
	}
	k2, err := LoadOrCreateKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := k2.Unwrap("kid-1", sealed)
	if err != nil || string(pt) != "secret key material" {
		t.Fatalf("reloaded KEK cannot unwrap: %q %v", pt, err)
	}
}

func TestKEKRejects(t *testing.T) {
	dir := t.TempDir()
	k, err := LoadOrCreateKEK(filepath.Join(dir, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := k.Wrap("kid-1", []byte("x"))
	other, _ := NewKEK(bytes.Repeat([]byte{7}, 32))
	readable := filepath.Join(dir, "readable")
	if err := os.WriteFile(readable, bytes.Repeat([]byte("ab"), 32), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  func() error
	}{
		{"a sealed key moved to another kid", func() error { _, err := k.Unwrap("kid-2", sealed); return err }},
		{"another KEK", func() error { _, err := other.Unwrap("kid-1", sealed); return err }},
		{"a truncated blob", func() error { _, err := k.Unwrap("kid-1", sealed[:5]); return err }},
		{"a KEK file others can read", func() error { _, err := LoadOrCreateKEK(readable); return err }},
		{"a short key", func() error { _, err := NewKEK([]byte("short")); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.err(); !errors.Is(err, ErrKEK) {
				t.Fatalf("err = %v, want ErrKEK", err)
			}
		})
	}
}

// TestKEKGroupRead: a KEK readable by the node's own group is accepted
// (Kubernetes mounts a Secret with an fsGroup as 0440 in the node's
// group); readable by any other group, writable by the group, or open to
// others, it is refused.
func TestKEKGroupRead(t *testing.T) {
	dir := t.TempDir()
	hexKEK := bytes.Repeat([]byte("ab"), 32)
	for _, tc := range []struct {
		name string
		mode os.FileMode
		gid  int // -1: the test's own group
		ok   bool
	}{
		{"0400", 0o400, -1, true},
		{"0440 own group", 0o440, -1, true},
		{"0640 own group", 0o640, -1, true},
		{"0440 another group", 0o440, os.Getegid() + 1000, false},
		{"0460 own group, group write", 0o460, -1, false},
		{"0404 others read", 0o404, -1, false},
		{"0444", 0o444, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, hexKEK, 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.gid >= 0 {
				if err := os.Chown(path, -1, tc.gid); err != nil {
					t.Skipf("cannot give the file another group (needs root): %v", err)
				}
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateKEK(path)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrKEK) {
				t.Fatalf("err = %v, want ErrKEK", err)
			}
		})
	}
}

// Nodes of a cluster starting at once on one KEK path all get the same
// KEK, and none reads a file that is created but not yet written.
func TestKEKCreatedOnceUnderConcurrency(t *testing.T) {
	for round := 0; round < 20; round++ {
		path := filepath.Join(t.TempDir(), "data", "kek")
		const n = 8
		keks := make([]*KEK, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				keks[i], errs[i] = LoadOrCreateKEK(path)
			}()
		}
		wg.Wait()
		sealed, err := keks[0].Wrap("kid", []byte("secret"))
		if errs[0] != nil || err != nil {
			t.Fatal(errs[0], err)
		}
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d: caller %d: %v", round, i, errs[i])
			}
			if _, err := keks[i].Unwrap("kid", sealed); err != nil {
				t.Fatalf("round %d: caller %d got another KEK", round, i)
			}
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".kek-*")); len(left) != 0 {
			t.Fatalf("temporary files left: %v", left)
		}
	}
}
