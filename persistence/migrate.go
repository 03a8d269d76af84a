package persistence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// ErrSchemaVersion: the schema version record is not a positive decimal
// number. The store is not touched; an operator must look at it.
var ErrSchemaVersion = errors.New("persistence: bad schema version record")

// Migration is one step of the schema: it rewrites the records of a store
// at version N into the shapes of version N+1.
type Migration struct {
	// Name says what the step changes, in one line (it is logged).
	Name string
	// Run rewrites the records in b. It runs before the node serves and
	// under the migration ownership: one node of a cluster at a time, and
	// on etcd its writes are fenced once that node loses its lease. If Run
	// fails, or the node stops while it runs, the version stays N and the
	// next start runs the step again from the beginning, over records it
	// may already have converted. So Run must be idempotent (convert what
	// still has the old shape, leave the rest) and convert each record
	// with one Update, so that no record is ever half written.
	Run func(ctx context.Context, b Backend) error
}

// Migrate brings the store to SchemaVersion with the declared migrations.
// A node calls it at start, before anything else reads the store. owners
// is the node's ownership (nil on a single node: LocalOwners of b).
func Migrate(ctx context.Context, b Backend, owners Owners, logger *slog.Logger) error {
	return Migrator{Steps: migrations, Logger: logger}.Run(ctx, b, owners)
}

// Migrator runs an ordered list of migrations: Steps[i] moves a store
// from version i+1 to i+2, so len(Steps)+1 is the version it brings a
// store to. Migrate uses the list declared in schema.go; tests use their
// own.
type Migrator struct {
	Steps  []Migration
	Logger *slog.Logger
}

// releaseTimeout bounds giving the migration ownership back (it lapses
// with the node's lease anyway).
const releaseTimeout = 5 * time.Second

// Run brings the store in b to version len(m.Steps)+1:
//   - A store without a version record is stamped: an empty one (nothing
//     in any bucket) with the current version, one that holds records
//     with version 1, because they were written before the record existed
//     and have version 1 shapes; it then migrates like any other.
//   - A store at the current version is left alone: the usual start costs
//     one read.
//   - A store newer than this binary is refused (ErrSchemaTooNew) and left
//     alone: this binary does not know its shapes.
//   - An older store is migrated step by step under the migration
//     ownership, each step followed by an atomic stamp of the next
//     version. A failed step stops the run with the version of the last
//     step that completed.
func (m Migrator) Run(ctx context.Context, b Backend, owners Owners) error {
	target := len(m.Steps) + 1
	for i, s := range m.Steps {
		if s.Name == "" || s.Run == nil {
			return fmt.Errorf("persistence: migration %d to %d has no name or no function", i+1, i+2)
		}
	}
	logger := m.Logger
	if logger == nil {
		logger = slog.Default()
	}
	v, found, err := readVersion(ctx, b)
	if err != nil {
		return err
	}
	if !found {
		if v, err = stamp(ctx, b, target, logger); err != nil {
			return err
		}
	}
	switch {
	case v > target:
		return tooNew(v, target)
	case v == target:
		return nil
	}

	if owners == nil {
		owners = LocalOwners(b)
	}
	// Another node of the cluster may be migrating: this waits for it,
	// then finds the work done below.
	logger.Info("store schema migration needed", "version", v, "target", target)
	owned, err := owners.Acquire(ctx, MigrationOwnership)
	if err != nil {
		return fmt.Errorf("persistence: take the migration ownership: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if err := owned.Release(rctx); err != nil {
			logger.Warn("releasing the migration ownership failed", "err", err)
		}
	}()
	s := owned.Store()
	for {
		if !owned.Valid() {
			return fmt.Errorf("persistence: schema migration: %w: the migration ownership was lost", ErrFenced)
		}
		// Read again under the ownership: the version may have moved
		// while this node waited for it.
		v, found, err := readVersion(ctx, s)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: the record vanished during the migration", ErrSchemaVersion)
		}
		switch {
		case v > target:
			return tooNew(v, target)
		case v == target:
			return nil
		}
		step := m.Steps[v-1]
		logger.Info("store schema migration started", "from", v, "to", v+1, "migration", step.Name)
		if err := step.Run(ctx, s); err != nil {
			logger.Error("store schema migration failed", "audit", true, "from", v, "to", v+1, "migration", step.Name, "err", err)
			return fmt.Errorf("persistence: schema migration %d to %d (%s): %w", v, v+1, step.Name, err)
		}
		if err := advance(ctx, s, v); err != nil {
			return err
		}
		logger.Warn("store schema migrated", "audit", true, "from", v, "to", v+1, "migration", step.Name)
	}
}

// readVersion reads the version record; found is false when there is none.
func readVersion(ctx context.Context, b Backend) (v int, found bool, err error) {
	raw, err := b.Get(ctx, BucketMeta, KeySchemaVersion)
	if errors.Is(err, ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("persistence: read the schema version: %w", err)
	}
	v, err = parseVersion(raw)
	return v, err == nil, err
}

// parseVersion accepts exactly what formatVersion writes, so a record
// edited by hand into something ambiguous ("+2", "02", " 2") is refused
// rather than guessed at.
func parseVersion(raw []byte) (int, error) {
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 || formatVersion(v) != string(raw) {
		return 0, fmt.Errorf("%w: %s/%s is not a positive decimal number", ErrSchemaVersion, BucketMeta, KeySchemaVersion)
	}
	return v, nil
}

func formatVersion(v int) string { return strconv.Itoa(v) }

// stamp writes the first version record and returns the version the store
// has then (another node's, if it stamped first).
func stamp(ctx context.Context, b Backend, target int, logger *slog.Logger) (int, error) {
	empty, err := isEmpty(ctx, b)
	if err != nil {
		return 0, err
	}
	v := 1
	if empty {
		v = target
	}
	err = b.Create(ctx, BucketMeta, KeySchemaVersion, []byte(formatVersion(v)))
	switch {
	case err == nil:
		logger.Info("store schema version stamped", "audit", true, "version", v, "fresh", empty)
		return v, nil
	case errors.Is(err, ErrConflict):
		// A node starting at the same time stamped first.
		v, found, err := readVersion(ctx, b)
		if err != nil {
			return 0, err
		}
		if !found {
			return 0, fmt.Errorf("%w: the record vanished while it was stamped", ErrSchemaVersion)
		}
		return v, nil
	default:
		return 0, fmt.Errorf("persistence: stamp the schema version: %w", err)
	}
}

// errNotEmpty stops isEmpty's listing at the first record.
var errNotEmpty = errors.New("persistence: store holds records")

// isEmpty reports whether no declared bucket but meta holds a record.
func isEmpty(ctx context.Context, b Backend) (bool, error) {
	for _, spec := range schema {
		if spec.Name == BucketMeta {
			continue
		}
		err := b.List(ctx, spec.Name, "", func(string, []byte) error { return errNotEmpty })
		if errors.Is(err, errNotEmpty) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("persistence: look for records in %s: %w", spec.Name, err)
		}
	}
	return true, nil
}

// advance stamps version from+1 if the store still has version from.
func advance(ctx context.Context, b Backend, from int) error {
	err := b.Update(ctx, BucketMeta, KeySchemaVersion, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, fmt.Errorf("%w: the record vanished during the migration", ErrSchemaVersion)
		}
		cur, err := parseVersion(old)
		if err != nil {
			return nil, err
		}
		if cur != from {
			return nil, fmt.Errorf("%w: schema version moved from %d to %d during the migration", ErrConflict, from, cur)
		}
		return []byte(formatVersion(from + 1)), nil
	})
	if err != nil {
		return fmt.Errorf("persistence: stamp schema version %d: %w", from+1, err)
	}
	return nil
}

func tooNew(v, target int) error {
	return fmt.Errorf("%w: the store has schema version %d, this binary knows up to %d: run a release that knows version %d (or restore a backup taken with this one)",
		ErrSchemaTooNew, v, target, v)
}
