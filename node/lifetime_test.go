package node_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"authrim/node"
)

// silent reports whether the browser's sign-in answers an authorization
// request without a page (a code straight back to the RP).
func (o *op) silent(t *testing.T, b *http.Client) bool {
	t.Helper()
	p := get(t, b, o.authorizeURL(baseParams()))
	switch {
	case p.isLogin():
		return false
	case p.status == http.StatusFound && p.loc != nil && strings.HasPrefix(p.loc.String(), rpRedirect) && p.loc.Query().Get("code") != "":
		return true
	}
	t.Fatalf("neither a code nor the sign-in page: %d %v %s", p.status, p.loc, p.body[strings.Index(p.body, "<main>"):])
	return false
}

// session.idle_ttl: a sign-in no browser request used for that long ends;
// each use moves the end, which never passes session.ttl.
func TestSessionIdleTTL(t *testing.T) {
	tests := []struct {
		name   string
		idle   time.Duration
		steps  []time.Duration // between uses
		signIn []bool          // the use after each step is silent
	}{
		{name: "used within the limit stays", idle: 30 * time.Minute,
			steps: []time.Duration{20 * time.Minute, 20 * time.Minute, 20 * time.Minute}, signIn: []bool{true, true, true}},
		{name: "unused past the limit ends", idle: 30 * time.Minute,
			steps: []time.Duration{20 * time.Minute, 31 * time.Minute, time.Minute}, signIn: []bool{true, false, true}},
		{name: "off: only ttl counts", idle: 0,
			steps: []time.Duration{4 * time.Hour, 2 * time.Hour}, signIn: []bool{true, false}},
		{name: "never past ttl however used", idle: 3 * time.Hour,
			steps: []time.Duration{2 * time.Hour, 2 * time.Hour, 2 * time.Hour}, signIn: []bool{true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := startOPWith(t, func(c *node.Config) {
				c.Session.TTL = node.Duration(5 * time.Hour)
				c.Session.IdleTTL = node.Duration(tt.idle)
			})
			b := browser(t)
			o.signIn(t, b, o.authorizeURL(baseParams()))
			for i, d := range tt.steps {
				o.clock.Advance(d)
				got := o.silent(t, b)
				if got != tt.signIn[i] {
					t.Fatalf("use %d (after %v): signed in %v, want %v", i+1, d, got, tt.signIn[i])
				}
				if !got {
					// Sign in again, as the user would.
					o.signIn(t, b, o.authorizeURL(baseParams()))
				}
			}
		})
	}
}

// tokens.refresh_token_idle_ttl: a refresh-token family unused that long
// expires; each use moves that end, never past refresh_token_ttl from the
// redemption.
func TestRefreshTokenIdleTTL(t *testing.T) {
	tests := []struct {
		name  string
		steps []time.Duration
		ok    []bool
	}{
		{name: "used within the limit lives", steps: []time.Duration{50 * time.Minute, 50 * time.Minute, 50 * time.Minute}, ok: []bool{true, true, true}},
		{name: "unused past the limit expires", steps: []time.Duration{50 * time.Minute, 61 * time.Minute}, ok: []bool{true, false}},
		{name: "the absolute end never moves", steps: []time.Duration{50 * time.Minute, 50 * time.Minute, 50 * time.Minute, 40 * time.Minute}, ok: []bool{true, true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := startOPWith(t, func(c *node.Config) {
				c.Tokens.RefreshTokenTTL = node.Duration(3 * time.Hour)
				c.Tokens.RefreshTokenIdleTTL = node.Duration(time.Hour)
			})
			cb := o.signIn(t, browser(t), o.authorizeURL(baseParams()))
			st, tok := o.redeem(t, cb.Query().Get("code"), "")
			if st != http.StatusOK {
				t.Fatalf("redeem: %d %v", st, tok)
			}
			rt := tok["refresh_token"].(string)
			for i, d := range tt.steps {
				o.clock.Advance(d)
				st, out := o.tokenRequest(t, "rp", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
				if got := st == http.StatusOK; got != tt.ok[i] {
					t.Fatalf("refresh %d (after %v): %d %v", i+1, d, st, out)
				}
				if st != http.StatusOK {
					if out["error"] != "invalid_grant" {
						t.Fatalf("refused with %v, want invalid_grant", out["error"])
					}
					return
				}
				rt = out["refresh_token"].(string)
			}
		})
	}
}

// The idle limits are off (0) or between a minute and their absolute
// lifetime; the device grant's code lifetime and poll interval are
// bounded.
func TestLifetimeConfigValidation(t *testing.T) {
	checkValidation(t, []validationCase{
		{"defaults: both off", func(*node.Config) {}, ""},
		{"session idle within ttl", func(c *node.Config) { c.Session.IdleTTL = node.Duration(30 * time.Minute) }, ""},
		{"session idle equal to ttl", func(c *node.Config) { c.Session.IdleTTL = c.Session.TTL }, ""},
		{"session idle past ttl", func(c *node.Config) { c.Session.IdleTTL = c.Session.TTL + node.Duration(time.Hour) }, "session.idle_ttl"},
		{"session idle of seconds", func(c *node.Config) { c.Session.IdleTTL = node.Duration(10 * time.Second) }, "session.idle_ttl"},
		{"session idle negative", func(c *node.Config) { c.Session.IdleTTL = node.Duration(-time.Hour) }, "session.idle_ttl"},
		{"refresh idle within ttl", func(c *node.Config) { c.Tokens.RefreshTokenIdleTTL = node.Duration(24 * time.Hour) }, ""},
		{"refresh idle past ttl", func(c *node.Config) { c.Tokens.RefreshTokenIdleTTL = c.Tokens.RefreshTokenTTL * 2 }, "tokens.refresh_token_idle_ttl"},
		{"refresh idle negative", func(c *node.Config) { c.Tokens.RefreshTokenIdleTTL = node.Duration(-time.Minute) }, "tokens.refresh_token_idle_ttl"},
		{"device code ttl too short", func(c *node.Config) { c.Tokens.DeviceCodeTTL = node.Duration(10 * time.Second) }, "tokens.device_code_ttl"},
		{"device code ttl too long", func(c *node.Config) { c.Tokens.DeviceCodeTTL = node.Duration(2 * time.Hour) }, "tokens.device_code_ttl"},
		{"device poll interval not whole seconds", func(c *node.Config) { c.Tokens.DevicePollInterval = node.Duration(1500 * time.Millisecond) }, "tokens.device_poll_interval"},
		{"device poll interval zero", func(c *node.Config) { c.Tokens.DevicePollInterval = 0 }, "tokens.device_poll_interval"},
	})
}
