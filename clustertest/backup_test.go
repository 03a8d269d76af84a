package clustertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// run runs the authrim binary without a server (restore).
func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("authrim %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// restoreIntoNewCluster starts a new 3-node cluster seeded with file,
// as docs/CLUSTER.md says: the old KEK on every node, the backup put in
// place on every member with authrim restore --backend etcd, then all
// started; the new cluster keeps the old one's issuer.
func restoreIntoNewCluster(t *testing.T, old *testCluster, file string) *testCluster {
	t.Helper()
	kek := filepath.Join(filepath.Dir(old.members[0].dir), "kek")
	fresh := startNodesWith(t, 3, "etcd", func(tc *testCluster) {
		tc.issuer = old.issuer // the same public URL, new machines
		b, err := os.ReadFile(kek)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(filepath.Dir(tc.members[0].dir), "kek"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, m := range tc.members {
			out := run(t, "restore", "--backend", "etcd", "--from", file, "--data", filepath.Join(m.dir, "data"))
			if !strings.Contains(out, "restore-seed.db") {
				t.Errorf("restore printed %q", out)
			}
		}
	})
	imported := 0
	for _, m := range fresh.members {
		if strings.Contains(m.log.String(), "store restored from a backup") {
			imported++
		}
		if _, err := os.Stat(filepath.Join(m.dir, "data", "restore-seed.db")); !os.IsNotExist(err) {
			t.Errorf("%s kept its seed: %v", m.name, err)
		}
	}
	if imported != 1 {
		t.Errorf("%d members imported the backup, want 1", imported)
	}
	return fresh
}

// TestBackupRestoreIntoNewCluster backs a 3-node cluster up with the CLI
// (users, a registered client, sessions with refresh tokens, keys),
// restores the file into a fresh 3-node cluster with the runbook of
// docs/CLUSTER.md ("Back up and restore"), and shows that nothing was
// lost: the old refresh tokens refresh on every new member, the JWKS is
// the same, the user and the client are there.
func TestBackupRestoreIntoNewCluster(t *testing.T) {
	old := startCluster(t, 3)
	accounts := seedAccounts(t, old, old.members, 6)
	out := old.cli(old.members[0], nil, "clients", "add", "--id", "restored-rp", "--auth-method", "client_secret_basic",
		"--redirect-uri", rpRedirect, "--grant-types", "authorization_code")
	if !strings.Contains(out, "client_secret") {
		t.Fatalf("clients add: %s", out)
	}
	jwksBefore, err := jwks(old.members[1])
	if err != nil {
		t.Fatal(err)
	}
	kidsBefore := kidsOf(old, old.members[2])

	// Runbook: back up any member.
	file := filepath.Join(t.TempDir(), "authrim.backup")
	started := time.Now()
	out = old.cli(old.members[1], nil, "backup", "--out", file)
	t.Logf("backup of the cluster took %s: %s", time.Since(started).Round(time.Millisecond), strings.TrimSpace(out))
	if !regexp.MustCompile(`1 users, 1 registered clients, \d+ sessions`).MatchString(out) {
		t.Errorf("backup printed %q", out)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	old.stopAll()
	fresh := restoreIntoNewCluster(t, old, file)
	for _, m := range fresh.members {
		if got, err := jwks(m); err != nil || got != jwksBefore {
			t.Errorf("JWKS on %s after the restore:\n%s\nwant\n%s (%v)", m.name, got, jwksBefore, err)
		}
	}
	if kids := kidsOf(fresh, fresh.members[0]); strings.Join(kids, ",") != strings.Join(kidsBefore, ",") {
		t.Errorf("keys after the restore %v, want %v", kids, kidsBefore)
	}
	// Refresh tokens issued by the old cluster refresh on every new
	// member (their codes have expired by now: not checked).
	for _, a := range accounts {
		a.code = ""
	}
	checkAccounts(t, fresh.members, accounts)
	checkAccounts(t, fresh.members, accounts)
	if out := fresh.cli(fresh.members[2], nil, "users", "list"); !strings.Contains(out, "alice") {
		t.Errorf("users list after the restore: %s", out)
	}
	if out := fresh.cli(fresh.members[1], nil, "clients", "list"); !strings.Contains(out, "restored-rp") {
		t.Errorf("clients list after the restore: %s", out)
	}
	// A new sign-in works too.
	b := newBrowser()
	if _, _, err := signIn(b, fresh, fresh.members[1]); err != nil {
		t.Fatal(err)
	}

	// A restart does not import again.
	m := fresh.members[0]
	fresh.kill(m)
	fresh.start(m)
	fresh.waitReady(m, 90*time.Second)
	checkAccounts(t, fresh.members, accounts)
}

// TestSingleNodeBackupSeedsACluster moves a single bbolt node onto a
// 3-node cluster: its backup (the same file format) seeds the cluster,
// and its refresh tokens and keys carry over.
func TestSingleNodeBackupSeedsACluster(t *testing.T) {
	single := startNodes(t, 1, "bbolt")
	accounts := seedAccounts(t, single, single.members, 3)
	jwksBefore, err := jwks(single.members[0])
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "authrim.backup")
	single.cli(single.members[0], nil, "backup", "--out", file)
	single.stopAll()

	fresh := restoreIntoNewCluster(t, single, file)
	for _, m := range fresh.members {
		if got, err := jwks(m); err != nil || got != jwksBefore {
			t.Errorf("JWKS on %s after the move:\n%s\nwant\n%s (%v)", m.name, got, jwksBefore, err)
		}
	}
	for _, a := range accounts {
		a.code = ""
	}
	checkAccounts(t, fresh.members, accounts)
	if out := fresh.cli(fresh.members[1], nil, "users", "list"); !strings.Contains(out, "alice") {
		t.Errorf("users list after the move: %s", out)
	}
}
