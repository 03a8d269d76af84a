package node_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"authrim/node"
)

// The node applies its configured password policy where the admin API
// sets passwords: the shipped breached list, the operator's blocklist
// file and passwords.min_length.
func TestPasswordPolicyFromConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	list := filepath.Join(t.TempDir(), "blocklist.txt")
	if err := os.WriteFile(list, []byte("# the company's name is what people pick\nExampleCorp-Spring\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Passwords.BlocklistFile = list
	cfg.Passwords.MinLength = 12
	n := startNode(t, cfg, nil)
	for _, tc := range []struct{ name, pw, want string }{
		{"a good passphrase", "quiet orchard lanterns", ""},
		{"breached", "WinnieThePooh", "too common"},
		{"operator's list", "examplecorp-spring", "too common"},
		{"shorter than min_length", "ten chars!", "at least 12"},
		{"holds the username", "quentin's password", "username"},
	} {
		body := `{"username":"quentin","password":"` + tc.pw + `"}`
		status, resp := admin(t, n, http.MethodPost, "/admin/users", adminToken, body)
		if tc.want == "" {
			if status != http.StatusCreated {
				t.Fatalf("%s: status %d %s, want 201", tc.name, status, resp)
			}
			admin(t, n, http.MethodDelete, "/admin/users/quentin", adminToken, "")
			continue
		}
		if status != http.StatusBadRequest || !strings.Contains(string(resp), tc.want) {
			t.Errorf("%s: status %d %s, want 400 saying %q", tc.name, status, resp, tc.want)
		}
		if strings.Contains(string(resp), tc.pw) {
			t.Errorf("%s: the answer repeats the password: %s", tc.name, resp)
		}
	}
}

func TestPasswordPolicyConfigValidation(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.txt")
	checkValidation(t, []validationCase{
		{"default", func(*node.Config) {}, ""},
		{"15 characters", func(c *node.Config) { c.Passwords.MinLength = 15 }, ""},
		{"below NIST's 8", func(c *node.Config) { c.Passwords.MinLength = 6 }, "passwords.min_length"},
		{"above 64", func(c *node.Config) { c.Passwords.MinLength = 65 }, "passwords.min_length"},
		{"blocklist file missing", func(c *node.Config) { c.Passwords.BlocklistFile = missing }, "passwords.blocklist_file"},
	})
}
