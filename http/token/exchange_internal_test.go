package token

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"authrim/directory"
	"authrim/http/oauth2"
)

// FuzzParseExchangeRequest: whatever the form, the parser either
// refuses with an OAuth error of the request itself, or returns a
// request whose subject and types are present and supported, whose
// actor comes with its type, and whose target is one of the parameters.
func FuzzParseExchangeRequest(f *testing.F) {
	f.Add("tok", directory.TokenTypeAccessToken, "", "", "", "", "", "profile")
	f.Add("tok", directory.TokenTypeIDToken, "act", directory.TokenTypeJWT, "https://api.example", "https://api.example", directory.TokenTypeAccessToken, "")
	f.Add("tok", directory.TokenTypeRefreshToken, "", "", "", "https://x#f", "", "")
	f.Add("", "", "a", "", "aud", "", "urn:x", "a b  c")
	f.Fuzz(func(t *testing.T, subject, subjectType, actor, actorType, audience, resource, requested, scope string) {
		form := url.Values{}
		for k, v := range map[string]string{
			"subject_token": subject, "subject_token_type": subjectType, "actor_token": actor, "actor_token_type": actorType,
			"audience": audience, "resource": resource, "requested_token_type": requested, "scope": scope,
		} {
			if v != "" {
				form.Set(k, v)
			}
		}
		r, err := parseExchangeRequest(form)
		if err != nil {
			if c := oauth2.From(err).Code; c != "invalid_request" && c != "invalid_target" {
				t.Fatalf("error %q (%v)", c, err)
			}
			return
		}
		if r.subject == "" || !slices.Contains(directory.ExchangeSubjectTypes, r.subjectType) {
			t.Fatalf("accepted subject %q of type %q", r.subject, r.subjectType)
		}
		if (r.actor == "") != (r.actorType == "") || (r.actor != "" && !slices.Contains(directory.ExchangeSubjectTypes, r.actorType)) {
			t.Fatalf("accepted actor %q of type %q", r.actor, r.actorType)
		}
		if r.target != "" && r.target != audience && r.target != resource {
			t.Fatalf("target %q from neither audience nor resource", r.target)
		}
		if audience != "" && resource != "" && audience != resource {
			t.Fatal("two different targets accepted")
		}
		if requested != "" && requested != directory.TokenTypeAccessToken {
			t.Fatalf("requested_token_type %q accepted", requested)
		}
		if strings.Join(r.scopes, " ") != strings.Join(strings.Fields(scope), " ") {
			t.Fatalf("scopes %q from %q", r.scopes, scope)
		}
	})
}

// FuzzParseJWTClaims: a trusted issuer's JWT payload is accepted only
// with iss, sub and exp, and an act chain of bounded depth whose every
// actor has a sub.
func FuzzParseJWTClaims(f *testing.F) {
	f.Add([]byte(`{"iss":"https://i","sub":"s","aud":"a","exp":1,"scope":"x y"}`))
	f.Add([]byte(`{"iss":"https://i","sub":"s","exp":1,"act":{"sub":"a","act":{"sub":"b"}}}`))
	f.Add([]byte(`{"iss":"https://i","sub":"s","exp":1,"act":{"act":{"act":{"act":{"act":{"act":{"sub":"z"}}}}}}}`))
	f.Add([]byte(`{"exp":"soon"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := parseJWTClaims(payload)
		if err != nil {
			return
		}
		if c.Issuer == "" || c.Subject == "" || c.Expiry == nil {
			t.Fatalf("accepted %s", payload)
		}
		if actDepth(c.Act) > maxActDepth {
			t.Fatalf("accepted a chain of %d actors", actDepth(c.Act))
		}
		for a := c.Act; a != nil; a = a.Act {
			if a.Subject == "" {
				t.Fatal("accepted an actor without sub")
			}
		}
	})
}

// TestExchangeScopes: the scope is narrowed to the policy's, the
// audience's and the subject's.
func TestExchangeScopes(t *testing.T) {
	subj := party{scopes: []string{"a", "b", "c"}, hasScope: true}
	for _, tc := range []struct {
		name      string
		requested []string
		subject   party
		policy    []string
		audience  []string
		want      string
		err       bool
	}{
		{"default is subject within policy", nil, subj, []string{"b", "c", "d"}, nil, "b c", false},
		{"asked within all", []string{"c"}, subj, []string{"b", "c"}, nil, "c", false},
		{"outside the subject", []string{"d"}, subj, []string{"d"}, nil, "", true},
		{"outside the policy", []string{"a"}, subj, []string{"b"}, nil, "", true},
		{"outside the audience", []string{"b"}, subj, []string{"b"}, []string{"c"}, "", true},
		{"subject without scope: the policy bounds", []string{"d"}, party{}, []string{"d"}, nil, "d", false},
		{"subject without scope, none asked: none", nil, party{}, []string{"d"}, nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := exchangeScopes(tc.requested, tc.subject, tc.policy, tc.audience)
			if (err != nil) != tc.err || strings.Join(got, " ") != tc.want {
				t.Fatalf("got %v %v, want %q err=%v", got, err, tc.want, tc.err)
			}
		})
	}
}
