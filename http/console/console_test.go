package console

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"authrim/actors/keymanager"
	"authrim/http/management"
)

func testConsole(t testing.TB) *Console {
	t.Helper()
	kek, err := keymanager.NewKEK(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	admin := management.NewAdmin("admin-token-0123456789", nil, slog.New(slog.DiscardHandler)).WithDirectory(nil, nil)
	c, err := New(Config{Issuer: "https://op.example", URL: "https://op.example"}, admin, kek, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every page renders in every language with its sample data (New runs
// them; a broken template fails here rather than at a request).
func TestPagesRender(t *testing.T) {
	c := testConsole(t)
	if len(c.pages.byLang) < 4 {
		t.Fatalf("pages for %d languages", len(c.pages.byLang))
	}
	if !c.secure || c.cookieName(sessionCookie) != "__Host-authrim-console" {
		t.Errorf("over https the cookie is %q", c.cookieName(sessionCookie))
	}
}

// A sealed session opens only as what it was sealed for, and not once
// changed.
func TestSealedCookies(t *testing.T) {
	c := testConsole(t)
	s := session{Sub: "sub1", CSRF: "x", Exp: time.Now().Add(time.Minute).Unix()}
	v, err := c.seal(sessionKID, s)
	if err != nil {
		t.Fatal(err)
	}
	var got session
	if err := c.open(sessionKID, v, &got); err != nil || got != s {
		t.Fatalf("open: %+v %v", got, err)
	}
	var f flow
	if err := c.open(flowKID, v, &f); err == nil {
		t.Fatal("a session cookie opens as a sign-in cookie")
	}
	b := []byte(v)
	b[len(b)/2] ^= 1
	if err := c.open(sessionKID, string(b), &got); err == nil {
		t.Fatal("a changed cookie opens")
	}
}

// FuzzOpenCookie: whatever a browser sends as the console's cookie is
// refused without a panic unless the node sealed it.
func FuzzOpenCookie(f *testing.F) {
	c := testConsole(f)
	sealed := session{Sub: "s", CSRF: "c", Exp: 1}
	v, _ := c.seal(sessionKID, sealed)
	f.Add(v)
	f.Add("")
	f.Add("not base64 !")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, value string) {
		var s session
		// Only what the node sealed opens (the seed, sealed by this or
		// another fuzzing process under the same KEK).
		if err := c.open(sessionKID, value, &s); err == nil && s != sealed {
			t.Fatalf("%q opened as %+v", value, s)
		}
	})
}

// FuzzEventList: the events field of a webhook form splits into fields
// with no separator and none empty, whatever is typed.
func FuzzEventList(f *testing.F) {
	f.Add("sign_in_*, admin_user_*,grant_revoked")
	f.Add(" , \n\t*")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		for _, ev := range eventList(s) {
			if ev == "" || strings.ContainsAny(ev, ", \n\r\t") {
				t.Fatalf("%q gave the field %q", s, ev)
			}
		}
	})
}

func TestEventList(t *testing.T) {
	got := eventList(" sign_in_*, admin_user_*\ngrant_revoked ,,")
	if !slices.Equal(got, []string{"sign_in_*", "admin_user_*", "grant_revoked"}) {
		t.Fatalf("%q", got)
	}
}
