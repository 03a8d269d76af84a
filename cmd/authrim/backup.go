package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	bolt "go.etcd.io/bbolt"

	"authrim/http/management"
	"authrim/http/oauth2"
	"authrim/node"
	"authrim/persistence"
	"authrim/persistence/bbolt"
	"authrim/persistence/snapshot"
)

// kekReminder is printed after a restore: the store's private keys are
// sealed under the KEK, which is not part of the backup.
const kekReminder = `The node must use the same KEK file (keys.kek_file) as the node the backup came from:
the signing keys in the backup are sealed under it and cannot be read without it.
Copy it into place before starting the node.`

// backupCmd downloads a snapshot of a running node's database through
// the admin API into --out. The file is written as OUT.tmp, synced,
// checked to be a bbolt database holding the keys bucket, and only then
// renamed to OUT, so OUT is always either absent, the previous file, or a
// complete backup.
func backupCmd(std *cli) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Download a consistent snapshot of a running node's database (admin API)",
		Long: `Download a consistent snapshot of a running node's store (GET
/admin/backup) into FILE (mode 0600). On bbolt it is the node's database
file; on etcd, every record read at one revision, written in the same
format, so a backup of either backend restores into either (authrim
restore). The file is checked to be a complete database before it
replaces FILE. The KEK file (keys.kek_file) is not in the backup: keep
it too, apart.`,
		Args: nArgs(0, "backup takes no arguments (use --out FILE)"),
	}
	client := adminFlags(cmd)
	cmd.Flags().StringVar(&out, "out", "", "file to write the backup to (mode 0600)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if out == "" {
			return usageError{msg: "backup needs --out FILE"}
		}
		return backup(cmd.Context(), client, out, std.stdout)
	}
	return cmd
}

func backup(ctx context.Context, client *adminClient, out string, stdout io.Writer) error {
	if _, err := client.newRequest(ctx, http.MethodGet, management.BackupPath, nil); err != nil {
		return err // no token, or plaintext across a network
	}
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return fmt.Errorf("backup: %s is a directory", out)
	}

	tmp := out + ".tmp"
	n, err := download(ctx, client, tmp)
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	info, err := snapshot.Check(tmp)
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("backup: the downloaded file is not a usable backup: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(filepath.Dir(out)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes: %s)\n", out, n, info)
	fmt.Fprintln(stdout, "Keep the KEK file (keys.kek_file) too: a restore needs the same one.")
	return nil
}

// download streams GET /admin/backup into path (created 0600, synced).
func download(ctx context.Context, c *adminClient, path string) (int64, error) {
	// The snapshot may be large: no overall timeout, the context and the
	// server's per-write deadline bound it instead.
	hc := *c.http
	hc.Timeout = 0
	req, err := c.newRequest(ctx, http.MethodGet, management.BackupPath, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e oauth2.Error
		if json.Unmarshal(b, &e) == nil && e.Code != "" {
			return 0, fmt.Errorf("GET %s: %d %s", management.BackupPath, resp.StatusCode, e.Error())
		}
		return 0, fmt.Errorf("GET %s: %s", management.BackupPath, resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/octet-stream" {
		return 0, fmt.Errorf("GET %s: answered %q, not a database snapshot (is --server an authrim node?)",
			management.BackupPath, resp.Header.Get("Content-Type"))
	}

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer f.Close() // a second Close after the checked one is harmless
	// A stale OUT.tmp from an earlier run may have had another mode.
	if err := f.Chmod(0o600); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	n, err := io.Copy(f, resp.Body)
	if err != nil {
		return n, fmt.Errorf("backup: download interrupted after %d bytes: %w", n, err)
	}
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// restoreCmd puts a backup in place for a node that is not running: as
// DIR/authrim.db (bbolt), or as DIR/restore-seed.db, the seed a new etcd
// cluster's members import when they first start. The copy goes to a
// temporary file in DIR, is synced and checked, and is renamed into
// place; a database it replaces (bbolt, only with --force) is kept as
// authrim.db.replaced-TIMESTAMP.
func restoreCmd(std *cli) *cobra.Command {
	var from, dir, backend string
	var force bool
	cmd := &cobra.Command{
		Use:   "restore --from FILE --data DIR [--backend bbolt|etcd] [--force]",
		Short: "Put a backup in place for a stopped node, or as the seed of a new etcd cluster (needs the same KEK file)",
		Long: `Put a backup written by authrim backup in place in a node's storage.dir.

--backend bbolt (the default): DIR/authrim.db, for a single node.
--backend etcd: DIR/restore-seed.db, for each member of a NEW cluster
(restore into every member's storage.dir before starting any): the first
member to start imports it into the empty store, the others find it done.
A store that already holds records refuses the seed.

Either backend's backup restores into either. A backup from a newer
release (a higher schema version) is refused; an older one is migrated
when the node starts.`,
		Args: nArgs(0, "restore takes no arguments (use --from FILE --data DIR)"),
	}
	cmd.Flags().StringVar(&from, "from", "", "backup file written by `authrim backup`")
	cmd.Flags().StringVar(&dir, "data", "", "the node's storage.dir")
	cmd.Flags().StringVar(&backend, "backend", node.BackendBbolt, "the node's storage.backend: bbolt or etcd")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing database (bbolt; the node must be stopped)")
	cmd.RunE = func(*cobra.Command, []string) error {
		if from == "" || dir == "" {
			return usageError{msg: "restore needs --from FILE and --data DIR"}
		}
		switch backend {
		case node.BackendBbolt:
			return restore(from, dir, force, std.stdout)
		case node.BackendEtcd:
			if force {
				return usageError{msg: "restore --backend etcd seeds only a new cluster: --force does not apply"}
			}
			return restoreSeed(from, dir, std.stdout)
		default:
			return usageError{msg: fmt.Sprintf("restore --backend must be bbolt or etcd, got %q", backend)}
		}
	}
	return cmd
}

// restoreSeed puts a backup in place as DIR/restore-seed.db for a member
// of a new etcd cluster. A directory that already holds a member's data
// (DIR/etcd) or a seed is refused: the member would not be new.
func restoreSeed(from, dir string, stdout io.Writer) error {
	info, err := checkBackup(from)
	if err != nil {
		return err
	}
	for _, name := range []string{"etcd", node.SeedFile} {
		switch _, err := os.Stat(filepath.Join(dir, name)); {
		case err == nil:
			return fmt.Errorf("restore: %s already exists: a backup seeds only a new cluster's members (fresh storage.dir)", filepath.Join(dir, name))
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("restore: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tmp, err := copyInto(dir, from)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if _, err := snapshot.Check(tmp); err != nil {
		return fmt.Errorf("restore: the copy in %s does not check: %w", dir, err)
	}
	target := filepath.Join(dir, node.SeedFile)
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "placed %s as %s (%s)\n", from, target, info)
	fmt.Fprintln(stdout, "Do the same on every member of the new cluster, then start them: the first to start imports it.")
	fmt.Fprintln(stdout, kekReminder)
	return nil
}

func restore(from, dir string, force bool, stdout io.Writer) error {
	info, err := checkBackup(from)
	if err != nil {
		return err
	}

	target := filepath.Join(dir, bbolt.FileName)
	replaced := ""
	switch fi, err := os.Stat(target); {
	case err == nil && fi.IsDir():
		return fmt.Errorf("restore: %s is a directory", target)
	case err == nil:
		if !force {
			return fmt.Errorf("restore: %s already exists; stop the node and pass --force to replace it", target)
		}
		if err := checkNotInUse(target); err != nil {
			return err
		}
		replaced = fmt.Sprintf("%s.replaced-%s", target, time.Now().UTC().Format("20060102T150405Z"))
	case errors.Is(err, os.ErrNotExist):
	default:
		return fmt.Errorf("restore: %w", err)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tmp, err := copyInto(dir, from)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // gone after the rename; cleans up on failure
	if _, err := snapshot.Check(tmp); err != nil {
		return fmt.Errorf("restore: the copy in %s does not check: %w", dir, err)
	}
	if replaced != "" {
		// A hard link keeps the old file without a moment where
		// authrim.db is missing (a node started then would create an
		// empty database with new keys).
		if err := os.Link(target, replaced); err != nil {
			return fmt.Errorf("restore: keeping the current database: %w", err)
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s to %s (%s)\n", from, target, info)
	if replaced != "" {
		fmt.Fprintf(stdout, "the previous database is kept as %s\n", replaced)
	}
	fmt.Fprintln(stdout, kekReminder)
	return nil
}

// checkBackup checks a backup before a restore touches anything.
func checkBackup(from string) (snapshot.Info, error) {
	info, err := snapshot.Check(from)
	switch {
	case errors.Is(err, persistence.ErrSchemaTooNew):
		return info, fmt.Errorf("restore: %s comes from a newer release: %w", from, err)
	case err != nil:
		return info, fmt.Errorf("restore: %s is not a usable backup: %w", from, err)
	}
	return info, nil
}

// copyInto copies src to a new temporary file in dir (mode 0600, synced)
// and returns its path.
func copyInto(dir, src string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, bbolt.FileName+".restore-*")
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	fail := func(err error) (string, error) {
		out.Close()
		os.Remove(out.Name())
		return "", fmt.Errorf("restore: %w", err)
	}
	if err := out.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		return fail(err)
	}
	if err := out.Sync(); err != nil {
		return fail(err)
	}
	if err := out.Close(); err != nil {
		os.Remove(out.Name())
		return "", fmt.Errorf("restore: %w", err)
	}
	return out.Name(), nil
}

// checkNotInUse fails when a process (a running node) holds the bbolt
// lock on path. A file that is not a valid database is not in use: a
// forced restore may replace a damaged one.
func checkNotInUse(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("restore: %s is in use (is a node running on this directory? stop it first)", path)
	}
	if err == nil {
		_ = db.Close()
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
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
