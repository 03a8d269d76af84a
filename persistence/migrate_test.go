package persistence_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"authrim/persistence"
	"authrim/persistence/bbolt"
)

func openBolt(t *testing.T) *bbolt.Store {
	t.Helper()
	s, err := bbolt.Open(t.TempDir(), bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// steps is a fake migration list that records which steps ran, and what
// version each one found stored when it ran.
type steps struct {
	mu   sync.Mutex
	ran  []string
	fail map[int]error // step number (1 = version 1 to 2) -> its error
}

func (s *steps) list(n int) []persistence.Migration {
	out := make([]persistence.Migration, n)
	for i := range n {
		from := i + 1
		out[i] = persistence.Migration{
			Name: fmt.Sprintf("step %d to %d", from, from+1),
			Run: func(ctx context.Context, b persistence.Backend) error {
				v, err := b.Get(ctx, persistence.BucketMeta, persistence.KeySchemaVersion)
				if err != nil {
					return err
				}
				s.mu.Lock()
				s.ran = append(s.ran, fmt.Sprintf("%d@%s", from, v))
				err = s.fail[from]
				s.mu.Unlock()
				if err != nil {
					return err
				}
				// A step's writes land in the store it is given.
				return b.Put(ctx, persistence.BucketUsers, fmt.Sprintf("migrated-%d", from), []byte("yes"))
			},
		}
	}
	return out
}

func (s *steps) got() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.ran, " ")
}

func version(t *testing.T, b persistence.Backend) string {
	t.Helper()
	v, err := b.Get(context.Background(), persistence.BucketMeta, persistence.KeySchemaVersion)
	if errors.Is(err, persistence.ErrNotFound) {
		return "none"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

func setVersion(t *testing.T, b persistence.Backend, v string) {
	t.Helper()
	if err := b.Put(context.Background(), persistence.BucketMeta, persistence.KeySchemaVersion, []byte(v)); err != nil {
		t.Fatal(err)
	}
}

func migrator(s *steps, n int) persistence.Migrator {
	return persistence.Migrator{Steps: s.list(n), Logger: slog.New(slog.DiscardHandler)}
}

func TestMigrate(t *testing.T) {
	for _, tc := range []struct {
		name string
		// stored is the version record before the run ("" = none);
		// records says whether the store holds data.
		stored  string
		records bool
		n       int
		// want: steps run ("step@version it found"), version after.
		wantRan     string
		wantVersion string
	}{
		{name: "fresh store is stamped current, nothing runs", n: 3,
			wantRan: "", wantVersion: "4"},
		{name: "store from before the record is version 1 and runs every step in order", records: true, n: 3,
			wantRan: "1@1 2@2 3@3", wantVersion: "4"},
		{name: "store in between runs the remaining steps", stored: "2", records: true, n: 3,
			wantRan: "2@2 3@3", wantVersion: "4"},
		{name: "current store runs nothing", stored: "4", records: true, n: 3,
			wantRan: "", wantVersion: "4"},
		{name: "no migrations: fresh store is version 1", n: 0,
			wantRan: "", wantVersion: "1"},
		{name: "no migrations: old store is version 1", records: true, n: 0,
			wantRan: "", wantVersion: "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := openBolt(t)
			if tc.records {
				if err := b.Put(ctx, persistence.BucketSessions, "sid", []byte("state")); err != nil {
					t.Fatal(err)
				}
			}
			if tc.stored != "" {
				setVersion(t, b, tc.stored)
			}
			s := &steps{}
			if err := migrator(s, tc.n).Run(ctx, b, nil); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := s.got(); got != tc.wantRan {
				t.Errorf("steps run = %q, want %q", got, tc.wantRan)
			}
			if got := version(t, b); got != tc.wantVersion {
				t.Errorf("version = %s, want %s", got, tc.wantVersion)
			}
			// Each step that ran left its record; none other did.
			for i := 1; i <= tc.n; i++ {
				_, err := b.Get(ctx, persistence.BucketUsers, fmt.Sprintf("migrated-%d", i))
				if ran := strings.Contains(" "+tc.wantRan, fmt.Sprintf(" %d@", i)); ran != (err == nil) {
					t.Errorf("record of step %d: %v (step ran: %v)", i, err, ran)
				}
			}
			// A second start finds the store current and runs nothing.
			again := &steps{}
			if err := migrator(again, tc.n).Run(ctx, b, nil); err != nil {
				t.Fatalf("second Run: %v", err)
			}
			if got := again.got(); got != "" {
				t.Errorf("second Run ran %q, want nothing", got)
			}
		})
	}
}

// A binary must not touch a store whose shapes it does not know: it
// refuses to start, runs nothing and leaves the version alone.
func TestMigrateRefusesNewerStore(t *testing.T) {
	for _, tc := range []struct {
		name    string
		records bool
	}{
		{"with records", true},
		{"empty", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := openBolt(t)
			if tc.records {
				if err := b.Put(ctx, persistence.BucketUsers, "u", []byte("user")); err != nil {
					t.Fatal(err)
				}
			}
			setVersion(t, b, "5")
			s := &steps{}
			err := migrator(s, 2).Run(ctx, b, nil)
			if !errors.Is(err, persistence.ErrSchemaTooNew) {
				t.Fatalf("Run on a newer store = %v, want ErrSchemaTooNew", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "version 5") || !strings.Contains(msg, "up to 3") {
				t.Errorf("error %q does not say which versions", msg)
			}
			if got := s.got(); got != "" {
				t.Errorf("steps ran on a newer store: %q", got)
			}
			if got := version(t, b); got != "5" {
				t.Errorf("version = %s, want 5 (unchanged)", got)
			}
		})
	}
}

// A failed step stops the run; the version stays at the last step that
// completed, and the next run resumes from there.
func TestMigrateFailedStepKeepsVersion(t *testing.T) {
	ctx := context.Background()
	b := openBolt(t)
	setVersion(t, b, "1")
	boom := errors.New("boom")
	s := &steps{fail: map[int]error{2: boom}}
	err := migrator(s, 3).Run(ctx, b, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("Run with a failing step = %v, want the step's error", err)
	}
	if got := s.got(); got != "1@1 2@2" {
		t.Errorf("steps run = %q, want %q (none after the failure)", got, "1@1 2@2")
	}
	if got := version(t, b); got != "2" {
		t.Errorf("version after the failure = %s, want 2", got)
	}
	// Fixed, the next start runs the failed step again, then the rest.
	s.fail = nil
	s.ran = nil
	if err := migrator(s, 3).Run(ctx, b, nil); err != nil {
		t.Fatalf("Run after the fix: %v", err)
	}
	if got := s.got(); got != "2@2 3@3" {
		t.Errorf("steps run after the fix = %q, want %q", got, "2@2 3@3")
	}
	if got := version(t, b); got != "4" {
		t.Errorf("version = %s, want 4", got)
	}
}

// A version record that is not exactly a positive decimal number stops
// the start: guessing could skip or repeat migrations.
func TestMigrateRefusesBadVersionRecord(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"empty", ""},
		{"zero", "0"},
		{"negative", "-1"},
		{"text", "abc"},
		{"plus sign", "+2"},
		{"leading zero", "02"},
		{"space", " 2"},
		{"newline", "2\n"},
		{"overflow", "99999999999999999999999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := openBolt(t)
			setVersion(t, b, tc.value)
			s := &steps{}
			if err := migrator(s, 3).Run(ctx, b, nil); !errors.Is(err, persistence.ErrSchemaVersion) {
				t.Fatalf("Run = %v, want ErrSchemaVersion", err)
			}
			if got := s.got(); got != "" {
				t.Errorf("steps ran: %q", got)
			}
			if got := version(t, b); got != tc.value {
				t.Errorf("version record changed to %q", got)
			}
		})
	}
}

// A step without a name or a function is a bug in the list: nothing is
// written, not even the first version record.
func TestMigrateRefusesIncompleteSteps(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*persistence.Migration)
	}{
		{"no function", func(m *persistence.Migration) { m.Run = nil }},
		{"no name", func(m *persistence.Migration) { m.Name = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := openBolt(t)
			m := migrator(&steps{}, 2)
			tc.edit(&m.Steps[1])
			if err := m.Run(context.Background(), b, nil); err == nil {
				t.Fatal("Run with an incomplete step: no error")
			}
			if got := version(t, b); got != "none" {
				t.Errorf("version = %s, want no record", got)
			}
		})
	}
}

// The declared list: a fresh store ends at SchemaVersion, and so does a
// store with records from before the version record.
func TestMigrateDeclaredSchema(t *testing.T) {
	want := fmt.Sprint(persistence.SchemaVersion())
	for _, records := range []bool{false, true} {
		t.Run(fmt.Sprintf("records=%v", records), func(t *testing.T) {
			ctx := context.Background()
			b := openBolt(t)
			if records {
				if err := b.Put(ctx, persistence.BucketKeys, "default", []byte("set")); err != nil {
					t.Fatal(err)
				}
			}
			if err := persistence.Migrate(ctx, b, nil, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			if got := version(t, b); got != want {
				t.Errorf("version = %s, want %s", got, want)
			}
		})
	}
}
