package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"authrim/http/management"
)

// A KID may start with "-" (KIDs are base64url): `keys revoke` takes it as
// the KID wherever it stands among the flags, without needing "--", and
// still reads the flags around it.
func TestKeysRevokeKIDWithLeadingDash(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Reason string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		calls = append(calls, r.Method+" "+r.URL.EscapedPath()+" "+body.Reason+" "+r.Header.Get("Authorization"))
		mu.Unlock()
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			calls = nil
			mu.Unlock()
			var out bytes.Buffer
			if err := keysCmd(context.Background(), tc.args, &out); err != nil {
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
	if err := keysCmd(context.Background(), append([]string{"revoke", "-a", "-b", "--reason", "x"}, conn...), &bytes.Buffer{}); err == nil {
		t.Fatal("two KIDs accepted")
	}
}
