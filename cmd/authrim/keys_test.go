package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"authrim/http/management"
)

// A KID may start with "-" (KIDs are base64url): `keys revoke` and `keys
// show` take it as the KID wherever it stands among the flags, without
// needing "--", and still read the flags around it (with one dash or two,
// as the command line always took them).
func TestKeysRevokeKIDWithLeadingDash(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Reason string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		calls = append(calls, r.Method+" "+r.URL.EscapedPath()+" "+body.Reason+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Method == http.MethodGet && r.URL.EscapedPath() != "/admin/keys" {
			_ = json.NewEncoder(w).Encode(management.KeyDetailView{KeyView: management.KeyView{Kid: "shown"}})
			return
		}
		_ = json.NewEncoder(w).Encode(management.KeysView{})
	}))
	t.Cleanup(srv.Close)
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"dash KID first", append([]string{"revoke", "-Xy_z", "--reason", "lost"}, conn...), "POST /admin/keys/-Xy_z/revoke lost"},
		{"dash KID last", append(append([]string{"revoke", "--reason=lost"}, conn...), "-Xy_z"), "POST /admin/keys/-Xy_z/revoke lost"},
		{"double dash KID", append([]string{"revoke", "--reason", "lost", "--abc"}, conn...), "POST /admin/keys/--abc/revoke lost"},
		{"after --", append(append([]string{"revoke", "--reason", "lost"}, conn...), "--", "-reason"), "POST /admin/keys/-reason/revoke lost"},
		{"plain KID", append([]string{"revoke", "abc", "-reason", "lost"}, conn...), "POST /admin/keys/abc/revoke lost"},
		{"single-dash flags", append([]string{"revoke", "-reason=lost", "-server", srv.URL, "-admin-token", cliToken}, "-Q"), "POST /admin/keys/-Q/revoke lost"},
		{"show dash KID", append([]string{"show", "-Xy_z"}, conn...), "GET /admin/keys/-Xy_z "},
		{"show dash KID after flags", append(append([]string{"show", "--json"}, conn...), "--abc"), "GET /admin/keys/--abc "},
		{"show after --", append(append([]string{"show"}, conn...), "--", "-json"), "GET /admin/keys/-json "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			calls = nil
			mu.Unlock()
			var out bytes.Buffer
			if err := keysRun(context.Background(), tc.args, &out); err != nil {
				t.Fatalf("keys %v: %v", tc.args, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if want := tc.want + " Bearer " + cliToken; !slices.Equal(calls, []string{want}) {
				t.Fatalf("calls %q, want %q", calls, want)
			}
		})
	}
	// Two KIDs, or a KID and a stray argument, are still refused.
	mu.Lock()
	calls = nil
	mu.Unlock()
	for _, args := range [][]string{
		{"revoke", "-a", "-b", "--reason", "x"},
		{"show", "-a", "-b"},
		{"show"},
	} {
		var ue usageError
		if err := keysRun(context.Background(), append(args, conn...), &bytes.Buffer{}); !errors.As(err, &ue) {
			t.Fatalf("keys %v: %v, want a usage error", args, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 0 {
		t.Fatalf("a refused command line was sent: %q", calls)
	}
}
