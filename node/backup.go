package node

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authrim/persistence"
	"authrim/persistence/snapshot"
)

// BackupConfig schedules backups. Any member may also be backed up on
// demand through the admin API (authrim backup).
type BackupConfig struct {
	// Schedule is the interval between scheduled backups (e.g. 6h),
	// counted from the node's start: an interval, not a time of day.
	// 0 (the default) schedules none.
	Schedule Duration `yaml:"schedule"`
	// Dir receives the scheduled backups (created 0700, files 0600);
	// empty means storage.dir/backups.
	Dir string `yaml:"dir"`
	// Keep is how many of the newest scheduled backups stay in Dir; 0
	// keeps them all.
	Keep int `yaml:"keep"`
}

// minBackupSchedule keeps a typo (6s for 6h) from filling the disk.
const minBackupSchedule = time.Minute

func (c Config) backupProblems(add func(key, format string, args ...any)) {
	b := c.Backup
	switch {
	case b.Schedule < 0:
		add("backup.schedule", "must not be negative (0 schedules no backups)")
	case b.Schedule > 0 && b.Schedule.D() < minBackupSchedule:
		add("backup.schedule", "must be at least %s (or 0 for none), got %s", minBackupSchedule, b.Schedule.D())
	}
	if b.Keep < 0 {
		add("backup.keep", "must not be negative (0 keeps every backup)")
	}
}

// BackupDir is where scheduled backups go.
func (c Config) BackupDir() string {
	return cmp.Or(c.Backup.Dir, filepath.Join(c.Storage.Dir, "backups"))
}

// SeedFile is the backup, in storage.dir, that an etcd node imports into
// an empty store when it starts (put there by authrim restore --backend
// etcd): how a new cluster is made from a backup.
const SeedFile = "restore-seed.db"

// snapshotter is what the admin API streams for GET /admin/backup and
// the schedule writes: the same file format on both backends
// (persistence/snapshot).
func (n *Node) snapshotter() interface {
	WriteTo(w io.Writer) (int64, error)
} {
	switch {
	case n.bolt != nil:
		return n.bolt
	case n.etcd != nil:
		return snapshot.Exported{Source: n.etcd, Dir: n.cfg.Storage.Dir}
	}
	return nil
}

// seedStore imports storage.dir/restore-seed.db into a new cluster's
// store: it runs after the lease (one member imports; the others wait for
// it) and before the schema migration (an older backup is migrated like
// any older store). Without a seed, a store whose import stopped half
// way is refused: it holds part of a backup.
func (n *Node) seedStore(ctx context.Context) error {
	path := filepath.Join(n.cfg.Storage.Dir, SeedFile)
	_, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if n.etcd == nil {
			return nil
		}
		id, unfinished, err := n.etcd.SeedUnfinished(ctx)
		if err != nil {
			return fmt.Errorf("node: restore: %w", err)
		}
		if unfinished {
			return fmt.Errorf("node: restore: the store holds part of backup %s, whose import did not finish: start a member that has it as %s (authrim restore --backend etcd)", id, SeedFile)
		}
		return nil
	case err != nil:
		return fmt.Errorf("node: restore: %w", err)
	case n.etcd == nil:
		return fmt.Errorf("node: restore: %s is a seed for a new etcd cluster, and this node stores in bbolt: remove it, or restore with authrim restore (without --backend etcd)", path)
	}
	info, err := snapshot.Check(path)
	if err != nil {
		return fmt.Errorf("node: restore: %s: %w", path, err)
	}
	id, err := fileHash(path)
	if err != nil {
		return fmt.Errorf("node: restore: %w", err)
	}
	started := time.Now()
	imported, err := n.lease.Seed(ctx, id, func(fn func(persistence.Bucket, string, []byte) error) error {
		return snapshot.Each(path, fn)
	})
	if err != nil {
		return fmt.Errorf("node: restore from %s: %w", path, err)
	}
	if imported {
		n.logger.Warn("store restored from a backup", "audit", true, "file", path, "backup", id,
			"contents", info.String(), "duration", time.Since(started).Round(time.Millisecond))
	} else {
		n.logger.Info("store already restored from this backup by another member", "backup", id)
	}
	// Done: a later start must not see it again (the import is also
	// idempotent for the same backup, so a failed removal is harmless).
	if err := os.Remove(path); err != nil {
		n.logger.Warn("restore: removing the seed failed", "file", path, "err", err)
	}
	return nil
}

func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// startBackups starts the backup schedule (backup.schedule): one member
// of a cluster writes (it holds snapshot.ScheduleOwnership; another takes
// over if it goes), a single node writes its own.
func (n *Node) startBackups(context.Context) error {
	cfg := n.cfg.Backup
	if cfg.Schedule <= 0 {
		return nil
	}
	results := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authrim_scheduled_backups_total",
		Help: "Scheduled backups this member attempted, by result (ok, failed)."}, []string{"result"})
	if err := n.tel.Registry.Register(results); err != nil {
		return fmt.Errorf("node: backup metric: %w", err)
	}
	owners := n.owners
	if owners == nil {
		owners = persistence.LocalOwners(n.store)
	}
	s := &snapshot.Schedule{
		Every: cfg.Schedule.D(), Dir: n.cfg.BackupDir(), Keep: cfg.Keep, Owners: owners,
		Snapshot: n.snapshotter().WriteTo, Logger: n.logger.With("component", "backup"), Now: n.now,
		Result: func(err error) {
			if err != nil {
				results.WithLabelValues("failed").Inc()
				return
			}
			results.WithLabelValues("ok").Inc()
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	n.onClose(func() {
		cancel()
		<-done
	})
	n.logger.Info("backup schedule started", "every", cfg.Schedule.D(), "dir", s.Dir, "keep", cfg.Keep)
	return nil
}
