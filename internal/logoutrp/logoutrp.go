// Package logoutrp is a relying party's back-channel logout endpoint for
// tests: a real https server that verifies each logout token as an RP
// must (OpenID Connect Back-Channel Logout 1.0 §2.6) with go-oidc against
// the OP's JWKS, and records what it accepted. It can answer 5xx a given
// number of times first, to exercise the OP's retries.
package logoutrp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Event is the logout token's event member.
const Event = "http://schemas.openid.net/event/backchannel-logout"

// Logout is one accepted logout token.
type Logout struct {
	JTI, Sid, Sub string
	At            time.Time
}

// RP is the endpoint.
type RP struct {
	// URL is the backchannel_logout_uri to register.
	URL string
	// CAFile holds the server's certificate (PEM), for
	// requests.fetch.ca_file.
	CAFile string

	issuer, clientID, jwksURL string
	srv                       *httptest.Server

	mu        sync.Mutex
	failing   bool
	failFirst int
	attempts  int
	accepted  []Logout
	refused   []string
	verifier  *oidc.IDTokenVerifier
}

// Start serves the endpoint for clientID of issuer. The first failFirst
// requests are answered 500 (whatever they carry).
func Start(t testing.TB, issuer, clientID string, failFirst int) *RP {
	t.Helper()
	rp := &RP{issuer: issuer, clientID: clientID, failFirst: failFirst}
	rp.srv = httptest.NewTLSServer(http.HandlerFunc(rp.serve))
	t.Cleanup(rp.srv.Close)
	rp.URL = rp.srv.URL + "/backchannel-logout"
	rp.CAFile = filepath.Join(t.TempDir(), "rp-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rp.srv.Certificate().Raw})
	if err := os.WriteFile(rp.CAFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return rp
}

// SetJWKSURL reads the OP's keys from u instead of the issuer's
// (another member of a cluster whose first member is gone).
func (rp *RP) SetJWKSURL(u string) {
	rp.mu.Lock()
	rp.jwksURL, rp.verifier = u, nil
	rp.mu.Unlock()
}

// SetFailing makes the endpoint answer 500 to everything until it is
// set to false again.
func (rp *RP) SetFailing(failing bool) {
	rp.mu.Lock()
	rp.failing = failing
	rp.mu.Unlock()
}

// SetIssuer names the OP when it was not known at Start (its port).
func (rp *RP) SetIssuer(issuer string) {
	rp.mu.Lock()
	rp.issuer, rp.verifier = issuer, nil
	rp.mu.Unlock()
}

func (rp *RP) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	rp.mu.Lock()
	rp.attempts++
	fail := rp.attempts <= rp.failFirst || rp.failing
	rp.mu.Unlock()
	if fail {
		http.Error(w, "not now", http.StatusInternalServerError)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/backchannel-logout" {
		http.Error(w, "no", http.StatusNotFound)
		return
	}
	l, err := rp.verify(r.Context(), r.PostFormValue("logout_token"))
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if err != nil {
		rp.refused = append(rp.refused, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, a := range rp.accepted {
		if a.JTI == l.JTI {
			// §2.6 step 7 (jti not seen before) would refuse it; answer
			// 200 as an idempotent RP would, and count it.
			rp.refused = append(rp.refused, "replayed jti "+l.JTI)
			return
		}
	}
	rp.accepted = append(rp.accepted, l)
}

// verify checks a logout token as §2.6 says.
func (rp *RP) verify(ctx context.Context, raw string) (Logout, error) {
	rp.mu.Lock()
	if rp.verifier == nil {
		u := rp.jwksURL
		if u == "" {
			u = strings.TrimSuffix(rp.issuer, "/") + "/.well-known/jwks.json"
		}
		keys := oidc.NewRemoteKeySet(context.Background(), u)
		rp.verifier = oidc.NewVerifier(rp.issuer, keys, &oidc.Config{
			ClientID:             rp.clientID,
			SupportedSigningAlgs: []string{"RS256", "ES256", "PS256", "EdDSA", "ES384", "RS384", "ES512"},
		})
	}
	v := rp.verifier
	rp.mu.Unlock()
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return Logout{}, fmt.Errorf("verify: %w", err)
	}
	head, _, _ := strings.Cut(raw, ".")
	hb, _ := base64.RawURLEncoding.DecodeString(head)
	var h struct {
		Typ string `json:"typ"`
	}
	if json.Unmarshal(hb, &h) != nil || h.Typ != "logout+jwt" {
		return Logout{}, fmt.Errorf("typ %q, want logout+jwt", h.Typ)
	}
	var c struct {
		JTI    string                     `json:"jti"`
		Sid    string                     `json:"sid"`
		Sub    string                     `json:"sub"`
		Nonce  *string                    `json:"nonce"`
		Iat    int64                      `json:"iat"`
		Events map[string]json.RawMessage `json:"events"`
	}
	if err := tok.Claims(&c); err != nil {
		return Logout{}, err
	}
	switch {
	case c.Nonce != nil:
		return Logout{}, fmt.Errorf("a logout token must not carry a nonce")
	case c.JTI == "" || c.Iat == 0:
		return Logout{}, fmt.Errorf("jti and iat are required")
	case c.Sid == "" && c.Sub == "":
		return Logout{}, fmt.Errorf("sid or sub is required")
	case string(c.Events[Event]) != "{}":
		return Logout{}, fmt.Errorf("events lacks %s: %v", Event, c.Events)
	}
	return Logout{JTI: c.JTI, Sid: c.Sid, Sub: c.Sub, At: time.Now()}, nil
}

// Accepted returns the logout tokens accepted so far (each jti once).
func (rp *RP) Accepted() []Logout {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]Logout(nil), rp.accepted...)
}

// Refused returns why requests were refused (a replayed jti included).
func (rp *RP) Refused() []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]string(nil), rp.refused...)
}

// Attempts is how many requests arrived.
func (rp *RP) Attempts() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.attempts
}
