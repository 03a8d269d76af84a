package session_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
)

// An issue with conditions (authorize without a page) issues a code only
// when the login is fresh enough, of the right subject and acr, and every
// needed scope is consented; otherwise it answers with the login and the
// consents, stores nothing, and the caller shows a page.
func TestIssueWhenTheLoginSatisfiesTheRequest(t *testing.T) {
	g := startGrains(t, true)
	seed := seeded(t, g) // signed in an hour ago as sub-1 with the password acr; consented openid, profile
	call := func(maxAge int64, when *messages.IssueWhen) *messages.SessionReply {
		t.Helper()
		req := proto.Clone(fullRequest).(*messages.AuthRequest)
		req.MaxAge = maxAge
		r, err := g.node.Sessions().Issue(context.Background(), seed.Sid, seed.Secret, &messages.IssueCode{Request: req, When: when})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ok := func() *messages.IssueWhen {
		return &messages.IssueWhen{RequiredSubject: seed.Subject, RequiredAcr: seed.Acr, Consent: []string{"openid", "profile"}}
	}
	refusals := map[string]struct {
		maxAge int64
		when   func(*messages.IssueWhen)
	}{
		"max_age shorter than the login's age": {60, func(*messages.IssueWhen) {}},
		"another subject":                      {-1, func(w *messages.IssueWhen) { w.RequiredSubject = "sub-2" }},
		"another acr":                          {-1, func(w *messages.IssueWhen) { w.RequiredAcr = "urn:authrim:acr:passkey" }},
		"a scope not consented":                {-1, func(w *messages.IssueWhen) { w.Consent = append(w.Consent, "email") }},
	}
	for name, c := range refusals {
		w := ok()
		c.when(w)
		r := call(c.maxAge, w)
		if r.Code != "" {
			t.Fatalf("%s: issued a code", name)
		}
		if r.Login.GetSubject() != seed.Subject || len(r.Consented) != 2 {
			t.Fatalf("%s: reply lacks the login or consents: %v", name, r)
		}
		if n := len(stored(t, g, seed.Sid).Codes); n != 0 {
			t.Fatalf("%s: %d codes stored", name, n)
		}
	}
	// Satisfied, with max_age longer than the login's age and with none.
	for _, maxAge := range []int64{7200, -1} {
		if r := call(maxAge, ok()); r.Code == "" {
			t.Fatalf("max_age %d: no code although every condition holds", maxAge)
		}
	}
	if n := len(stored(t, g, seed.Sid).Codes); n != 2 {
		t.Fatalf("%d codes stored, want 2", n)
	}
}
