package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"authrim/persistence"
)

// ScheduleOwnership is held by the member that writes scheduled
// backups: one member of a cluster at a time; another takes over when its
// lease lapses.
const ScheduleOwnership = "Backup/scheduled"

// Scheduled files are named FilePrefix + UTC time + FileSuffix, so that
// their names sort by age.
const (
	FilePrefix = "authrim-"
	FileSuffix = ".backup"
	timeLayout = "20060102T150405.000Z"
)

// Schedule writes a backup into Dir every Every and keeps the newest
// Keep of them.
type Schedule struct {
	Every time.Duration
	Dir   string
	Keep  int
	// Owners decides which member writes (LocalOwners on one node).
	Owners persistence.Owners
	// Snapshot writes one backup (the admin API's snapshotter).
	Snapshot func(w io.Writer) (int64, error)
	Logger   *slog.Logger
	// Result, if set, is told the outcome of every attempt this member
	// made (a metric).
	Result func(err error)
	Now    func() time.Time

	owned persistence.Owned
}

// tryAcquire bounds waiting for the ownership on each tick: a live
// holder keeps it, so waiting longer would only delay the check.
const tryAcquire = time.Second

// Run writes backups until ctx ends, then gives the ownership back.
func (s *Schedule) Run(ctx context.Context) {
	t := time.NewTicker(s.Every)
	defer t.Stop()
	defer s.release()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = s.Tick(ctx)
		}
	}
}

func (s *Schedule) release() {
	if s.owned == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.owned.Release(ctx)
	s.owned = nil
}

// Tick makes one scheduled attempt: if this member writes the backups
// (it holds, or can take, ScheduleOwnership), it writes one and prunes
// the old ones. It returns the file written ("" when another member
// writes them).
func (s *Schedule) Tick(ctx context.Context) (string, error) {
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if s.owned != nil && !s.owned.Valid() {
		s.owned = nil // lease lost: maybe another member writes now
	}
	if s.owned == nil {
		actx, cancel := context.WithTimeout(ctx, tryAcquire)
		o, err := s.Owners.Acquire(actx, ScheduleOwnership)
		cancel()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, persistence.ErrConflict) {
				logger.Warn("scheduled backup: cannot tell which member writes", "err", err)
			}
			return "", nil // another member holds it
		}
		s.owned = o
		logger.Info("scheduled backups are written by this member", "dir", s.Dir, "every", s.Every, "keep", s.Keep)
	}
	path, n, err := s.write()
	if s.Result != nil {
		s.Result(err)
	}
	if err != nil {
		logger.Error("scheduled backup failed", "audit", true, "dir", s.Dir, "err", err)
		return "", err
	}
	logger.Info("scheduled backup written", "audit", true, "file", path, "bytes", n)
	removed, err := Prune(s.Dir, s.Keep)
	for _, r := range removed {
		logger.Info("old scheduled backup removed", "audit", true, "file", r)
	}
	if err != nil {
		logger.Error("scheduled backup: pruning failed", "dir", s.Dir, "err", err)
	}
	return path, nil
}

// write writes one backup: a temporary file (0600), synced and checked,
// renamed into place.
func (s *Schedule) write() (string, int64, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return "", 0, err
	}
	path := filepath.Join(s.Dir, FilePrefix+now().UTC().Format(timeLayout)+FileSuffix)
	f, err := os.CreateTemp(s.Dir, ".backup-*.tmp")
	if err != nil {
		return "", 0, err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone after the rename
	fail := func(err error) (string, int64, error) {
		f.Close()
		return "", 0, err
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	n, err := s.Snapshot(f)
	if err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return "", 0, err
	}
	if _, err := Check(tmp); err != nil {
		return "", 0, fmt.Errorf("the new backup does not check: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", 0, err
	}
	return path, n, SyncDir(s.Dir)
}

// Prune removes the oldest scheduled backups in dir beyond keep (keep <
// 1 keeps everything). Only files named like scheduled backups are
// touched.
func Prune(dir string, keep int) ([]string, error) {
	if keep < 1 {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), FilePrefix) && strings.HasSuffix(e.Name(), FileSuffix) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	var removed []string
	var errs []error
	for len(names) > keep {
		p := filepath.Join(dir, names[0])
		names = names[1:]
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// SyncDir makes a rename in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
