package node_test

import (
	"testing"

	"authrim/node"
)

// TestPasswordsBelowOWASPMinimumRefused: argon2id parameters under OWASP's
// minimum (19 MiB, 2 passes, 1 lane) stop the start; the minimum itself
// and the default pass.
func TestPasswordsBelowOWASPMinimumRefused(t *testing.T) {
	set := func(tm, mem, th int) func(*node.Config) {
		return func(c *node.Config) { c.Passwords = node.PasswordsConfig{Time: tm, MemoryKiB: mem, Threads: th} }
	}
	checkValidation(t, []validationCase{
		{"default", func(*node.Config) {}, ""},
		{"the minimum", set(2, 19456, 1), ""},
		{"one pass", set(1, 65536, 1), "passwords"},
		{"memory 8 MiB", set(3, 8192, 1), "passwords"},
		{"memory just below 19 MiB", set(2, 19455, 1), "passwords"},
		{"no lanes", set(2, 19456, 0), "passwords"},
		{"too many lanes", set(2, 19456, 256), "passwords"},
	})
}

// TestCookieNamePrefixRefused: the node adds __Host- itself under an https
// issuer; a configured prefix would be dropped by browsers over http.
func TestCookieNamePrefixRefused(t *testing.T) {
	name := func(n string) func(*node.Config) { return func(c *node.Config) { c.Session.CookieName = n } }
	checkValidation(t, []validationCase{
		{"plain", name("sid"), ""},
		{"__Host-", name("__Host-sid"), "session.cookie_name"},
		{"__secure-, any case", name("__secure-sid"), "session.cookie_name"},
	})
}
