package management

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"authrim/http/oauth2"
	"authrim/http/router"
	"authrim/persistence"
	"authrim/persistence/bbolt"
)

// failingSnapshot writes part of a snapshot, then fails.
type failingSnapshot struct{}

// closedSnapshot fails before writing anything, as a closed store does.
type closedSnapshot struct{}

func (closedSnapshot) WriteTo(io.Writer) (int64, error) {
	return 0, fmt.Errorf("bbolt: snapshot: %w", persistence.ErrClosed)
}

func (failingSnapshot) WriteTo(w io.Writer) (int64, error) {
	n, _ := w.Write(bytes.Repeat([]byte{0xAB}, 64<<10))
	return int64(n), errors.New("disk on fire")
}

// backupServer is the admin API behind the real router (its recover
// middleware included), with s as the snapshot source; s nil leaves
// /admin/backup unmounted.
func backupServer(t *testing.T, s Snapshotter) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	admin := NewAdmin(testToken, nil, logger)
	if s != nil {
		admin = admin.WithBackup(s)
	}
	table, err := router.NewTable(admin)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(router.New(router.Config{Logger: logger, Ready: nil}, table).Public)
	t.Cleanup(srv.Close)
	return srv
}

func getBackup(t *testing.T, srv *httptest.Server, token string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+BackupPath, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestBackupStreamsTheStore(t *testing.T) {
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.Put(t.Context(), persistence.BucketKeys, "set", []byte("value")); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if _, err := store.WriteTo(&want); err != nil {
		t.Fatal(err)
	}
	srv := backupServer(t, store)

	resp, body, err := getBackup(t, srv, testToken)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("backup: %d %v", resp.StatusCode, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="authrim-`) || !strings.HasSuffix(cd, `.db"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	// Nothing was written in between: the snapshot is byte for byte the
	// file as WriteTo sees it.
	if !bytes.Equal(body, want.Bytes()) {
		t.Errorf("body is %d bytes, want the %d-byte snapshot", len(body), want.Len())
	}
}

func TestBackupNeedsTheToken(t *testing.T) {
	srv := backupServer(t, failingSnapshot{})
	for _, tok := range []string{"", "wrong-token-0123456789"} {
		resp, body, _ := getBackup(t, srv, tok)
		if resp.StatusCode != http.StatusUnauthorized || bytes.Contains(body, []byte{0xAB}) {
			t.Errorf("token %q: %d %q", tok, resp.StatusCode, body)
		}
	}
}

func TestBackupNotMountedWithoutSnapshotter(t *testing.T) {
	srv := backupServer(t, nil)
	if resp, _, _ := getBackup(t, srv, testToken); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET %s without WithBackup: %d, want 404", BackupPath, resp.StatusCode)
	}
}

// A snapshot that fails part way must not look like a complete download:
// the connection is aborted, so the client's read fails.
func TestBackupFailureAbortsTheStream(t *testing.T) {
	srv := backupServer(t, failingSnapshot{})
	resp, body, err := getBackup(t, srv, testToken)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read %d bytes, err %v; want io.ErrUnexpectedEOF", len(body), err)
	}
}

// A snapshot that fails before its first byte gets an ordinary JSON error
// (no attachment), not a broken download.
func TestBackupFailureBeforeTheFirstByte(t *testing.T) {
	srv := backupServer(t, closedSnapshot{})
	resp, body, err := getBackup(t, srv, testToken)
	if err != nil || resp.StatusCode < 500 {
		t.Fatalf("status %d, err %v", resp.StatusCode, err)
	}
	var e oauth2.Error
	if json.Unmarshal(body, &e) != nil || e.Code == "" || resp.Header.Get("Content-Disposition") != "" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("answer %q %v", body, resp.Header)
	}
}
