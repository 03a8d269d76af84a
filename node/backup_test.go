package node_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"authrim/node"
)

func TestBackupConfigProblems(t *testing.T) {
	for _, tc := range []struct {
		name   string
		adjust func(*node.BackupConfig)
		want   string
	}{
		{"default: no schedule", func(*node.BackupConfig) {}, ""},
		{"six hours, keep 3", func(b *node.BackupConfig) { b.Schedule = node.Duration(6 * time.Hour); b.Keep = 3 }, ""},
		{"keep every one", func(b *node.BackupConfig) { b.Schedule = node.Duration(time.Hour); b.Keep = 0 }, ""},
		{"too often", func(b *node.BackupConfig) { b.Schedule = node.Duration(6 * time.Second) }, "backup.schedule: must be at least 1m0s"},
		{"negative schedule", func(b *node.BackupConfig) { b.Schedule = node.Duration(-time.Hour) }, "backup.schedule: must not be negative"},
		{"negative keep", func(b *node.BackupConfig) { b.Keep = -1 }, "backup.keep: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir())
			tc.adjust(&cfg.Backup)
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected problem: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if got := (node.Config{Storage: node.StorageConfig{Dir: "/srv/authrim"}}).BackupDir(); got != "/srv/authrim/backups" {
		t.Errorf("default backup dir %q", got)
	}
}

// A seed is for a new etcd cluster: a bbolt node that finds one refuses
// to start (a restore meant for a cluster went to the wrong node) and
// leaves it in place.
func TestBboltNodeRefusesAClusterSeed(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, node.SeedFile)
	if err := os.WriteFile(seed, []byte("backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(context.Background(), testConfig(t, dir), node.Options{})
	if err == nil {
		_ = n.Shutdown(context.Background())
		t.Fatal("a bbolt node started with a cluster seed in its storage.dir")
	}
	if !strings.Contains(err.Error(), "seed for a new etcd cluster") {
		t.Errorf("Start = %v", err)
	}
	if _, err := os.Stat(seed); err != nil {
		t.Errorf("the seed was touched: %v", err)
	}
}

// The schedule is a stage of the start: the node starts with it and its
// shutdown stops it.
func TestBackupScheduleStage(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Backup.Schedule = node.Duration(time.Hour)
	n, err := node.Start(context.Background(), cfg, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
