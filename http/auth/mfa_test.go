package auth

import (
	"bytes"
	"testing"
	"time"

	"authrim/actors/keymanager"
)

func pendingHandler(t testing.TB, now *time.Time) *Handler {
	kek, err := keymanager.NewKEK(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return &Handler{cfg: Config{Now: func() time.Time { return *now }}, mfa: &mfaFront{sealer: kek}}
}

// TestPendingLogin: the token between the password and the code opens
// only for its session, request and purpose, and only until it expires.
func TestPendingLogin(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	h := pendingHandler(t, &now)
	tok, err := h.sealPending("sid1", "rid1", "alice-sub", purposeCode, "")
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := h.openPending("sid1", "rid1", tok, purposeCode); !ok || p.Subject != "alice-sub" {
		t.Fatalf("open: %+v %v", p, ok)
	}
	for _, tc := range []struct {
		name, sid, rid, tok, purpose string
	}{
		{"another session", "sid2", "rid1", tok, purposeCode},
		{"another request", "sid1", "rid2", tok, purposeCode},
		{"another purpose", "sid1", "rid1", tok, purposeEnrol},
		{"altered", "sid1", "rid1", tok[:len(tok)-2] + "AA", purposeCode},
		{"empty", "sid1", "rid1", "", purposeCode},
		{"not base64", "sid1", "rid1", "!!", purposeCode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := h.openPending(tc.sid, tc.rid, tc.tok, tc.purpose); ok {
				t.Fatal("opened")
			}
		})
	}
	now = now.Add(pendingTTL)
	if _, ok := h.openPending("sid1", "rid1", tok, purposeCode); ok {
		t.Fatal("opened after it expired")
	}
}

// FuzzOpenPending: any posted token is refused or opened without a
// panic; what opens is only ever what was sealed (the one subject this
// test seals for; the seed differs per fuzz worker, as sealing is
// randomised).
func FuzzOpenPending(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	h := pendingHandler(f, &now)
	tok, _ := h.sealPending("sid", "rid", "sub", purposeCode, "")
	f.Add(tok)
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		if p, ok := h.openPending("sid", "rid", s, purposeCode); ok && (p.Subject != "sub" || p.Purpose != purposeCode) {
			t.Fatalf("a token not sealed here opened: %q -> %+v", s, p)
		}
	})
}
