package backchannel_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"authrim/actors/delivery"
	"authrim/actors/messages"
	"authrim/directory"
	"authrim/http/backchannel"
	"authrim/http/fetch"
)

type clients map[string]directory.Client

func (c clients) Client(_ context.Context, id string) (directory.Client, error) {
	if cl, ok := c[id]; ok {
		return cl, nil
	}
	return directory.Client{}, directory.ErrNotFound
}

// fakeSign returns the payload as an unsigned compact token with typ and
// alg in its header, so the test reads what would be signed.
func fakeSign(_ context.Context, alg string, payload []byte, typ string) (string, error) {
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": typ})
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(payload) + ".sig", nil
}

func TestMessagesOnlyForClientsWithAnURI(t *testing.T) {
	cs := clients{
		"rp":     {ID: "rp", ClientMetadata: directory.ClientMetadata{BackchannelLogoutURI: "https://rp.example/bc"}},
		"silent": {ID: "silent"},
	}
	ended := []*messages.EndedClient{{ClientId: "rp", Subject: "u", SinceMs: 1}, {ClientId: "silent", Subject: "u"}, {ClientId: "deleted", Subject: "u"}}
	now := time.Now()
	ms, err := backchannel.Messages(context.Background(), cs, "sid1", ended, now)
	if err != nil || len(ms) != 1 || ms[0].Target != "rp" || ms[0].Kind != backchannel.Kind {
		t.Fatalf("messages %v, %v", ms, err)
	}
	again, _ := backchannel.Messages(context.Background(), cs, "sid1", ended, now.Add(time.Minute))
	if again[0].ID != ms[0].ID {
		t.Fatal("the same ending recorded twice gets another id")
	}
	other, _ := backchannel.Messages(context.Background(), cs, "sid1", []*messages.EndedClient{{ClientId: "rp", Subject: "u", SinceMs: 2}}, now)
	if other[0].ID == ms[0].ID {
		t.Fatal("a later sign-in's ending has the id of an earlier one")
	}
}

// Each attempt posts a fresh logout token with the claims of §2.4, and
// the answer decides between done, retry and give up.
func TestDeliver(t *testing.T) {
	cs := clients{"rp": {ID: "rp", ClientMetadata: directory.ClientMetadata{
		BackchannelLogoutURI: "https://rp.example/bc", IDTokenSignedResponseAlg: "ES256"}}}
	ms, _ := backchannel.Messages(context.Background(), cs, "sid1", []*messages.EndedClient{{ClientId: "rp", Subject: "u"}}, time.Now())
	for _, tc := range []struct {
		name      string
		status    int
		err       error
		ok, retry bool
	}{
		{"200", 200, nil, true, false}, {"204", 204, nil, true, false},
		{"500", 500, nil, false, true}, {"503", 503, nil, false, true}, {"429", 429, nil, false, true},
		{"400", 400, nil, false, false}, {"404", 404, nil, false, false}, {"302", 302, nil, false, false},
		{"network", 0, errors.New("fetch: could not be sent"), false, true},
		{"forbidden address", 0, fetch.ErrForbiddenAddress, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent url.Values
			h := &backchannel.Handler{Issuer: "https://op.example", Clients: cs, Sign: fakeSign, Now: time.Now,
				Post: func(_ context.Context, u, ct string, body []byte, _ http.Header) (int, error) {
					if u != "https://rp.example/bc" || ct != "application/x-www-form-urlencoded" {
						t.Errorf("posted to %s as %s", u, ct)
					}
					sent, _ = url.ParseQuery(string(body))
					return tc.status, tc.err
				}}
			err := h.Deliver(context.Background(), ms[0])
			switch {
			case tc.ok && err != nil, !tc.ok && err == nil:
				t.Fatalf("deliver: %v", err)
			case !tc.ok && delivery.IsPermanent(err) == tc.retry:
				t.Fatalf("retry %v, error %v (permanent %v)", tc.retry, err, delivery.IsPermanent(err))
			}
			parts := strings.Split(sent.Get("logout_token"), ".")
			hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
			pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
			var head map[string]string
			var c map[string]any
			json.Unmarshal(hb, &head)
			json.Unmarshal(pb, &c)
			ev, _ := c["events"].(map[string]any)
			switch {
			case head["typ"] != "logout+jwt" || head["alg"] != "ES256":
				t.Fatalf("header %v", head)
			case c["iss"] != "https://op.example" || c["aud"] != "rp" || c["sub"] != "u" || c["sid"] != "sid1" || c["jti"] != ms[0].ID:
				t.Fatalf("claims %v", c)
			case c["nonce"] != nil || c["iat"] == nil || c["exp"].(float64)-c["iat"].(float64) != 120:
				t.Fatalf("claims %v", c)
			case ev == nil || len(ev) != 1 || ev[backchannel.Event] == nil:
				t.Fatalf("events %v", c["events"])
			}
		})
	}
}

func TestDeliverGivesUpForClientsThatLeft(t *testing.T) {
	ms, _ := backchannel.Messages(context.Background(),
		clients{"rp": {ID: "rp", ClientMetadata: directory.ClientMetadata{BackchannelLogoutURI: "https://rp.example/bc"}}},
		"sid1", []*messages.EndedClient{{ClientId: "rp", Subject: "u"}}, time.Now())
	for name, cs := range map[string]clients{"deleted": {}, "uri removed": {"rp": {ID: "rp"}}} {
		h := &backchannel.Handler{Clients: cs, Sign: fakeSign, Now: time.Now,
			Post: func(context.Context, string, string, []byte, http.Header) (int, error) {
				t.Fatal("posted")
				return 0, nil
			}}
		if err := h.Deliver(context.Background(), ms[0]); !delivery.IsPermanent(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
