package node_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"authrim/directory"
	"authrim/http/dpop"
	"authrim/internal/docexample"
	"authrim/node"
)

// dpopKey is a client's DPoP key: it signs proofs (x/oauth2 cannot, so
// the tests build them with go-jose as a client library would).
type dpopKey struct {
	priv crypto.Signer
	jkt  string
}

func newDPoPKey(t *testing.T) dpopKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := dpop.Thumbprint(jose.JSONWebKey{Key: k.Public()})
	if err != nil {
		t.Fatal(err)
	}
	return dpopKey{priv: k, jkt: jkt}
}

// proofClaims are what a proof says; zero fields take defaults in proof.
type proofClaims struct {
	htm, htu, ath, nonce, jti string
	iat                       time.Time
}

// proof signs a DPoP proof (RFC 9449 §4.2) with k.
func (k dpopKey) proof(t *testing.T, c proofClaims) string {
	t.Helper()
	if c.jti == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		c.jti = url.QueryEscape(string(b))
	}
	claims := map[string]any{"htm": c.htm, "htu": c.htu, "iat": c.iat.Unix(), "jti": c.jti}
	if c.ath != "" {
		claims["ath"] = c.ath
	}
	if c.nonce != "" {
		claims["nonce"] = c.nonce
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

// tokenProof is a good proof for /token now.
func (o *op) tokenProof(t *testing.T, k dpopKey) string {
	return k.proof(t, proofClaims{htm: "POST", htu: o.issuer + "/token", iat: o.clock.Now()})
}

// userinfoProof is a good proof for GET /userinfo with tok.
func (o *op) userinfoProof(t *testing.T, k dpopKey, tok string) string {
	return k.proof(t, proofClaims{htm: "GET", htu: o.issuer + "/userinfo", iat: o.clock.Now(), ath: dpop.ATH(tok)})
}

// dpopPost posts form to /token with the given DPoP header values, as
// client (Basic auth with rpSecret; "" for a public client, which names
// itself in the form).
func (o *op) dpopPost(t *testing.T, client string, form url.Values, proofs ...string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", o.issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if client != "" {
		req.SetBasicAuth(client, rpSecret)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

// dpopUserinfo calls GET /userinfo with Authorization "scheme tok" and
// the proofs.
func (o *op) dpopUserinfo(t *testing.T, scheme, tok string, proofs ...string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", o.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", scheme+" "+tok)
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

// spaCode signs alice in for the public client "spa" and returns a code.
func (o *op) spaCode(t *testing.T, extra map[string]string) string {
	t.Helper()
	p := baseParams()
	p["client_id"] = "spa"
	for k, v := range extra {
		p[k] = v
	}
	return o.signIn(t, browser(t), o.authorizeURL(p)).Query().Get("code")
}

func spaRedeem(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "client_id": {"spa"}, "code_verifier": {pkceVerifier}}
}

func wantBound(t *testing.T, body map[string]any, jkt string) string {
	t.Helper()
	if body["token_type"] != "DPoP" {
		t.Fatalf("token_type %v, want DPoP: %v", body["token_type"], body)
	}
	tok, _ := body["access_token"].(string)
	cnf, _ := idClaims(t, tok)["cnf"].(map[string]any)
	if cnf["jkt"] != jkt {
		t.Fatalf("cnf %v, want jkt %s", cnf, jkt)
	}
	return tok
}

// TestDPoPPublicClientFlow: a public client's code redeemed with a proof
// gets a DPoP-bound access token (cnf.jkt = the key's thumbprint,
// token_type DPoP) that works at /userinfo with a proof carrying ath, and
// a refresh token bound to the key: a refresh needs a proof by that key,
// and a refused one does not rotate the token.
func TestDPoPPublicClientFlow(t *testing.T) {
	o := startOP(t)
	k := newDPoPKey(t)
	st, body, _ := o.dpopPost(t, "", spaRedeem(o.spaCode(t, nil)), o.tokenProof(t, k))
	if st != 200 {
		t.Fatalf("redeem: %d %v", st, body)
	}
	tok := wantBound(t, body, k.jkt)
	if st, ui, _ := o.dpopUserinfo(t, "DPoP", tok, o.userinfoProof(t, k, tok)); st != 200 || ui["sub"] != o.user.Subject {
		t.Fatalf("userinfo: %d %v", st, ui)
	}
	rt, _ := body["refresh_token"].(string)
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"spa"}}

	other := newDPoPKey(t)
	if st, b, _ := o.dpopPost(t, "", refresh, o.tokenProof(t, other)); st != 400 || b["error"] != "invalid_grant" {
		t.Fatalf("refresh with another key: %d %v", st, b)
	}
	if st, b, _ := o.dpopPost(t, "", refresh); st != 400 || b["error"] != "invalid_grant" {
		t.Fatalf("refresh without a proof: %d %v", st, b)
	}
	st, b, _ := o.dpopPost(t, "", refresh, o.tokenProof(t, k))
	if st != 200 {
		t.Fatalf("refresh with the key (the refused tries must not have rotated it): %d %v", st, b)
	}
	wantBound(t, b, k.jkt)
}

// TestDPoPConfidentialClient: a confidential client's DPoP token is bound
// and introspection says so (token_type DPoP, cnf.jkt); its refresh
// tokens are not bound (RFC 9449 §5: client authentication binds them),
// and a refresh with a proof binds the new access token to that proof's
// key, without one it is a Bearer token.
func TestDPoPConfidentialClient(t *testing.T) {
	o := startOP(t)
	k := newDPoPKey(t)
	code := o.signIn(t, browser(t), o.authorizeURL(baseParams())).Query().Get("code")
	st, body, _ := o.dpopPost(t, "rp", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier}}, o.tokenProof(t, k))
	if st != 200 {
		t.Fatalf("redeem: %d %v", st, body)
	}
	tok := wantBound(t, body, k.jkt)
	in := o.introspectAs(t, "rp", tok)
	if cnf, _ := in["cnf"].(map[string]any); in["active"] != true || in["token_type"] != "DPoP" || cnf["jkt"] != k.jkt {
		t.Fatalf("introspection: %v", in)
	}
	rt, _ := body["refresh_token"].(string)
	if in := o.introspectAs(t, "rp", rt); in["active"] != true || in["cnf"] != nil {
		t.Fatalf("refresh token introspection: %v", in)
	}
	st, b, _ := o.dpopPost(t, "rp", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if st != 200 || b["token_type"] != "Bearer" {
		t.Fatalf("refresh without a proof: %d %v", st, b)
	}
	if c := idClaims(t, b["access_token"].(string)); c["cnf"] != nil {
		t.Fatalf("bearer token with cnf: %v", c)
	}
	other := newDPoPKey(t)
	st, b, _ = o.dpopPost(t, "rp", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {b["refresh_token"].(string)}}, o.tokenProof(t, other))
	if st != 200 {
		t.Fatalf("refresh with a proof: %d %v", st, b)
	}
	wantBound(t, b, other.jkt)
}

// TestDPoPTokenEndpointRefusals: each broken proof at /token is
// invalid_dpop_proof (400), and no token is issued.
func TestDPoPTokenEndpointRefusals(t *testing.T) {
	o := startOP(t)
	k := newDPoPKey(t)
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"rp-post"}, "client_secret": {rpSecret}}
	now := o.clock.Now()
	reused := o.tokenProof(t, k)
	if st, b, _ := o.dpopPost(t, "", cc, reused); st != 200 {
		t.Fatalf("client_credentials with a proof: %d %v", st, b)
	} else {
		wantBound(t, b, k.jkt)
	}
	for _, tt := range []struct {
		name   string
		proofs []string
	}{
		{"wrong htm", []string{k.proof(t, proofClaims{htm: "GET", htu: o.issuer + "/token", iat: now})}},
		{"wrong htu", []string{k.proof(t, proofClaims{htm: "POST", htu: o.issuer + "/userinfo", iat: now})}},
		{"htu of another host", []string{k.proof(t, proofClaims{htm: "POST", htu: "http://evil.example/token", iat: now})}},
		{"stale iat", []string{k.proof(t, proofClaims{htm: "POST", htu: o.issuer + "/token", iat: now.Add(-2 * time.Minute)})}},
		{"iat in the future", []string{k.proof(t, proofClaims{htm: "POST", htu: o.issuer + "/token", iat: now.Add(time.Minute)})}},
		{"reused jti", []string{reused}},
		{"ath at the token endpoint", []string{k.proof(t, proofClaims{htm: "POST", htu: o.issuer + "/token", iat: now, ath: dpop.ATH("x")})}},
		{"two proofs", []string{o.tokenProof(t, k), o.tokenProof(t, k)}},
		{"not a JWT", []string{"nonsense"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, b, _ := o.dpopPost(t, "", cc, tt.proofs...)
			if st != 400 || b["error"] != "invalid_dpop_proof" || b["access_token"] != nil {
				t.Fatalf("%d %v", st, b)
			}
		})
	}
}

// TestDPoPBoundAccessTokensClient: a client configured or registered
// with dpop_bound_access_tokens (RFC 9449 §5.2) gets no token without a
// proof; registration echoes the member.
func TestDPoPBoundAccessTokensClient(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) {
		c.Registration.InitialAccessToken = initialToken
		c.Clients = append(c.Clients, node.ClientConfig{ID: "dpop-only", Secret: rpSecret, ClientMetadata: directory.ClientMetadata{
			AuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"}, DPoPBoundAccessTokens: true,
		}})
	})
	st, reg := o.registerClient(t, initialToken, map[string]any{"redirect_uris": []string{rpRedirect}, "dpop_bound_access_tokens": true, "token_endpoint_auth_method": "client_secret_post"})
	if st != 201 || reg.raw["dpop_bound_access_tokens"] != true {
		t.Fatalf("register: %d %v", st, reg.raw)
	}
	code := o.signIn(t, browser(t), o.authorizeURL(map[string]string{"client_id": reg.ID, "redirect_uri": rpRedirect, "response_type": "code",
		"scope": "openid", "code_challenge": s256(pkceVerifier), "code_challenge_method": "S256"})).Query().Get("code")
	redeem := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier},
		"client_id": {reg.ID}, "client_secret": {reg.Secret}}
	if st, b, _ := o.dpopPost(t, "", redeem); st != 400 || b["error"] != "invalid_dpop_proof" {
		t.Fatalf("registered client without a proof: %d %v", st, b)
	}
	if st, b, _ := o.dpopPost(t, "", redeem, o.tokenProof(t, newDPoPKey(t))); st != 200 || b["token_type"] != "DPoP" {
		t.Fatalf("registered client with a proof (the refused try left the code): %d %v", st, b)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	if st, b, _ := o.dpopPost(t, "dpop-only", cc); st != 400 || b["error"] != "invalid_dpop_proof" {
		t.Fatalf("without a proof: %d %v", st, b)
	}
	k := newDPoPKey(t)
	st, b, _ := o.dpopPost(t, "dpop-only", cc, o.tokenProof(t, k))
	if st != 200 {
		t.Fatalf("with a proof: %d %v", st, b)
	}
	wantBound(t, b, k.jkt)
	cl, err := o.n.Directory().Client(t.Context(), "dpop-only")
	if err != nil || !cl.DPoPBoundAccessTokens {
		t.Fatalf("client model: %v %+v", err, cl)
	}
}

// TestDPoPUserinfoRefusals: at /userinfo a bound token works only with
// the DPoP scheme and a fresh proof by its key for this request (htm,
// htu, ath); each refusal is a 401 with a DPoP challenge naming the
// error and the accepted algs.
func TestDPoPUserinfoRefusals(t *testing.T) {
	o := startOP(t)
	k := newDPoPKey(t)
	st, body, _ := o.dpopPost(t, "", spaRedeem(o.spaCode(t, nil)), o.tokenProof(t, k))
	if st != 200 {
		t.Fatalf("redeem: %d %v", st, body)
	}
	tok := wantBound(t, body, k.jkt)
	_, plain, _ := o.dpopPost(t, "", spaRedeem(o.spaCode(t, nil)))
	bearerTok, _ := plain["access_token"].(string)
	if plain["token_type"] != "Bearer" || bearerTok == "" {
		t.Fatalf("redeem without a proof: %v", plain)
	}
	now := o.clock.Now()
	reused := o.userinfoProof(t, k, tok)
	if st, _, _ := o.dpopUserinfo(t, "DPoP", tok, reused); st != 200 {
		t.Fatalf("good proof: %d", st)
	}
	other := newDPoPKey(t)
	for _, tt := range []struct {
		name, scheme, tok string
		proofs            []string
		code              string
	}{
		{"bound token as Bearer", "Bearer", tok, nil, "invalid_token"},
		{"bound token as Bearer, with a proof", "Bearer", tok, []string{o.userinfoProof(t, k, tok)}, "invalid_token"},
		{"no proof", "DPoP", tok, nil, "invalid_dpop_proof"},
		{"ath mismatch", "DPoP", tok, []string{o.userinfoProof(t, k, bearerTok)}, "invalid_dpop_proof"},
		{"no ath", "DPoP", tok, []string{k.proof(t, proofClaims{htm: "GET", htu: o.issuer + "/userinfo", iat: now})}, "invalid_dpop_proof"},
		{"wrong htm", "DPoP", tok, []string{k.proof(t, proofClaims{htm: "POST", htu: o.issuer + "/userinfo", iat: now, ath: dpop.ATH(tok)})}, "invalid_dpop_proof"},
		{"wrong htu", "DPoP", tok, []string{k.proof(t, proofClaims{htm: "GET", htu: o.issuer + "/token", iat: now, ath: dpop.ATH(tok)})}, "invalid_dpop_proof"},
		{"stale iat", "DPoP", tok, []string{k.proof(t, proofClaims{htm: "GET", htu: o.issuer + "/userinfo", iat: now.Add(-5 * time.Minute), ath: dpop.ATH(tok)})}, "invalid_dpop_proof"},
		{"reused jti", "DPoP", tok, []string{reused}, "invalid_dpop_proof"},
		{"token bound to another key", "DPoP", tok, []string{o.userinfoProof(t, other, tok)}, "invalid_token"},
		{"bearer token with the DPoP scheme", "DPoP", bearerTok, []string{o.userinfoProof(t, k, bearerTok)}, "invalid_token"},
		{"not a token, with the DPoP scheme", "DPoP", "garbage", []string{o.userinfoProof(t, k, "garbage")}, "invalid_token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, b, h := o.dpopUserinfo(t, tt.scheme, tt.tok, tt.proofs...)
			ch := h.Get("WWW-Authenticate")
			if st != 401 || b["error"] != tt.code || !strings.HasPrefix(ch, "DPoP ") || !strings.Contains(ch, `error="`+tt.code+`"`) || !strings.Contains(ch, `algs="`) {
				t.Fatalf("%d %v %q", st, b, ch)
			}
		})
	}
	// A bound token in the form body is a bearer-style use too.
	req, _ := http.NewRequest("POST", o.issuer+"/userinfo", strings.NewReader(url.Values{"access_token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", k.proof(t, proofClaims{htm: "POST", htu: o.issuer + "/userinfo", iat: now, ath: dpop.ATH(tok)}))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("bound token in the form body: %d", resp.StatusCode)
	}
	// Bearer tokens still work as before, and the challenge offers DPoP.
	if st, _, _ := o.dpopUserinfo(t, "Bearer", bearerTok); st != 200 {
		t.Fatalf("bearer token: %d", st)
	}
	if _, _, h := o.dpopUserinfo(t, "Bearer", "garbage"); len(h.Values("WWW-Authenticate")) != 2 {
		t.Fatalf("challenges: %q", h.Values("WWW-Authenticate"))
	}
}

// TestDPoPNonce: with dpop.require_nonce a proof without the server's
// nonce, or with a stale one, gets use_dpop_nonce and a DPoP-Nonce to use;
// with it the request succeeds, at /token and at /userinfo.
func TestDPoPNonce(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) { c.DPoP.RequireNonce = true; c.DPoP.NoncePeriod = node.Duration(time.Minute) })
	k := newDPoPKey(t)
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"rp-post"}, "client_secret": {rpSecret}}
	st, b, h := o.dpopPost(t, "", cc, o.tokenProof(t, k))
	nonce := h.Get("DPoP-Nonce")
	if st != 400 || b["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("without a nonce: %d %v %q", st, b, nonce)
	}
	withNonce := func(htm, htu, ath, n string) string {
		return k.proof(t, proofClaims{htm: htm, htu: htu, iat: o.clock.Now(), ath: ath, nonce: n})
	}
	if st, b, _ = o.dpopPost(t, "", cc, withNonce("POST", o.issuer+"/token", "", nonce)); st != 200 {
		t.Fatalf("with the nonce: %d %v", st, b)
	}
	o.clock.Advance(2 * time.Minute)
	st, b, h = o.dpopPost(t, "", cc, withNonce("POST", o.issuer+"/token", "", nonce))
	if st != 400 || b["error"] != "use_dpop_nonce" || h.Get("DPoP-Nonce") == nonce {
		t.Fatalf("stale nonce: %d %v (nonce rotated: %v)", st, b, h.Get("DPoP-Nonce") != nonce)
	}
	nonce = h.Get("DPoP-Nonce")

	st, body, _ := o.dpopPost(t, "", spaRedeem(o.spaCode(t, nil)), withNonce("POST", o.issuer+"/token", "", nonce))
	if st != 200 {
		t.Fatalf("redeem: %d %v", st, body)
	}
	tok := wantBound(t, body, k.jkt)
	st, _, h = o.dpopUserinfo(t, "DPoP", tok, withNonce("GET", o.issuer+"/userinfo", dpop.ATH(tok), ""))
	if st != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) || h.Get("DPoP-Nonce") == "" {
		t.Fatalf("userinfo without a nonce: %d %q", st, h.Get("WWW-Authenticate"))
	}
	if st, _, _ := o.dpopUserinfo(t, "DPoP", tok, withNonce("GET", o.issuer+"/userinfo", dpop.ATH(tok), h.Get("DPoP-Nonce"))); st != 200 {
		t.Fatalf("userinfo with the nonce: %d", st)
	}
}

// TestDiscoveryDPoPAlgs: discovery names the proof algorithms (RFC 9449
// §5.1), asymmetric only.
func TestDiscoveryDPoPAlgs(t *testing.T) {
	o := startOP(t)
	resp, err := http.Get(o.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&md)
	algs, _ := md["dpop_signing_alg_values_supported"].([]any)
	if len(algs) == 0 {
		t.Fatalf("no dpop_signing_alg_values_supported: %v", md)
	}
	for _, a := range algs {
		if s, _ := a.(string); s == "none" || strings.HasPrefix(s, "HS") {
			t.Fatalf("symmetric or none alg advertised: %v", algs)
		}
	}
	// The README's example works against this node.
	if out := docexample.Run(t, "../README.md", "dpop-algs", "ISSUER="+o.issuer); out != strings.Join(dpop.Algs, " ")+"\n" {
		t.Fatalf("README example printed %q", out)
	}
}

// postWithProofs posts form to path as client (Basic) with DPoP headers.
func (o *op) postWithProofs(t *testing.T, path, client string, form url.Values, proofs ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", o.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, rpSecret)
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestDPoPCodeBinding: dpop_jkt at /authorize binds the code (RFC 9449
// §10): redeemed without a proof or with another key's it is refused and
// stays redeemable; with the named key it works. A malformed dpop_jkt is
// refused at /authorize.
func TestDPoPCodeBinding(t *testing.T) {
	o := startOP(t)
	k, other := newDPoPKey(t), newDPoPKey(t)
	code := o.spaCode(t, map[string]string{"dpop_jkt": k.jkt})
	if st, b, _ := o.dpopPost(t, "", spaRedeem(code)); st != 400 || b["error"] != "invalid_grant" {
		t.Fatalf("without a proof: %d %v", st, b)
	}
	if st, b, _ := o.dpopPost(t, "", spaRedeem(code), o.tokenProof(t, other)); st != 400 || b["error"] != "invalid_grant" {
		t.Fatalf("with another key: %d %v", st, b)
	}
	st, b, _ := o.dpopPost(t, "", spaRedeem(code), o.tokenProof(t, k))
	if st != 200 {
		t.Fatalf("with the key: %d %v", st, b)
	}
	wantBound(t, b, k.jkt)

	p := baseParams()
	p["client_id"], p["dpop_jkt"] = "spa", "not-a-thumbprint"
	pg := get(t, browser(t), o.authorizeURL(p))
	if pg.loc == nil || pg.loc.Query().Get("error") != "invalid_request" {
		t.Fatalf("malformed dpop_jkt: %d %v", pg.status, pg.loc)
	}
}

// TestDPoPPushedRequest: a proof at /par (RFC 9449 §10.1) binds the code
// of the pushed request to its key; a dpop_jkt that is not the proof's
// key, or a bad proof, is refused there.
func TestDPoPPushedRequest(t *testing.T) {
	o := startOP(t)
	k, other := newDPoPKey(t), newDPoPKey(t)
	parProof := func(k dpopKey) string {
		return k.proof(t, proofClaims{htm: "POST", htu: o.issuer + "/par", iat: o.clock.Now()})
	}
	form := func(extra ...string) url.Values {
		v := url.Values{}
		for key, val := range baseParams() {
			v.Set(key, val)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	if st, b := o.postWithProofs(t, "/par", "rp", form("dpop_jkt", other.jkt), parProof(k)); st != 400 || b["error"] != "invalid_dpop_proof" {
		t.Fatalf("dpop_jkt of another key: %d %v", st, b)
	}
	if st, b := o.postWithProofs(t, "/par", "rp", form(), k.proof(t, proofClaims{htm: "POST", htu: o.issuer + "/token", iat: o.clock.Now()})); st != 400 || b["error"] != "invalid_dpop_proof" {
		t.Fatalf("proof for another endpoint: %d %v", st, b)
	}
	st, b := o.postWithProofs(t, "/par", "rp", form(), parProof(k))
	if st != 201 {
		t.Fatalf("par: %d %v", st, b)
	}
	code := o.signIn(t, browser(t), o.authorizeURL(map[string]string{"client_id": "rp", "request_uri": b["request_uri"].(string)})).Query().Get("code")
	redeem := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier}}
	if st, b, _ := o.dpopPost(t, "rp", redeem, o.tokenProof(t, other)); st != 400 || b["error"] != "invalid_grant" {
		t.Fatalf("redeem with another key: %d %v", st, b)
	}
	st, tb, _ := o.dpopPost(t, "rp", redeem, o.tokenProof(t, k))
	if st != 200 {
		t.Fatalf("redeem with the key: %d %v", st, tb)
	}
	wantBound(t, tb, k.jkt)
}

// TestDPoPTokenExchange: a DPoP-bound access token is exchanged (RFC
// 8693) only with a proof by its key, and the exchanged token is bound to
// that key; a copy of the token alone, or with another key's proof, is
// invalid_grant.
func TestDPoPTokenExchange(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) {
		c.Clients = append(c.Clients, node.ClientConfig{ID: "api", Secret: rpSecret, ClientMetadata: directory.ClientMetadata{
			AuthMethod: "client_secret_basic", GrantTypes: []string{grantExchange},
			TokenExchange: directory.TokenExchangePolicy{SubjectTokenTypes: []string{typeAT}, Audiences: []string{exOrdersAPI}, Scopes: []string{"profile"}, AllowImpersonation: true},
		}})
	})
	k := newDPoPKey(t)
	code := o.signIn(t, browser(t), o.authorizeURL(baseParams())).Query().Get("code")
	st, body, _ := o.dpopPost(t, "rp", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier}}, o.tokenProof(t, k))
	if st != 200 {
		t.Fatalf("redeem: %d %v", st, body)
	}
	subject := wantBound(t, body, k.jkt)
	ex := url.Values{"grant_type": {grantExchange}, "subject_token": {subject}, "subject_token_type": {typeAT}, "audience": {exOrdersAPI}, "scope": {"profile"}}
	if st, b, _ := o.dpopPost(t, "api", ex); st != 400 || b["error"] != "invalid_grant" {
		t.Fatalf("bound subject token without a proof: %d %v", st, b)
	}
	if st, b, _ := o.dpopPost(t, "api", ex, o.tokenProof(t, newDPoPKey(t))); st != 400 || b["error"] != "invalid_grant" {
		t.Fatalf("bound subject token with another key's proof: %d %v", st, b)
	}
	st, b, _ := o.dpopPost(t, "api", ex, o.tokenProof(t, k))
	if st != 200 {
		t.Fatalf("with the key's proof: %d %v", st, b)
	}
	wantBound(t, b, k.jkt)
}

// TestDPoPDeviceGrant: a public device client polling with a proof gets
// a bound access token and a refresh token bound to the key.
func TestDPoPDeviceGrant(t *testing.T) {
	o := startDeviceOP(t, nil)
	k := newDPoPKey(t)
	g := o.startDevice(t, "tv", "openid offline_access")
	o.decide(t, browser(t), g, "approve")
	st, b, _ := o.dpopPost(t, "", url.Values{"grant_type": {directory.DeviceCodeGrantType}, "device_code": {g.deviceCode}, "client_id": {"tv"}}, o.tokenProof(t, k))
	if st != 200 {
		t.Fatalf("poll: %d %v", st, b)
	}
	wantBound(t, b, k.jkt)
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {b["refresh_token"].(string)}, "client_id": {"tv"}}
	if st, rb, _ := o.dpopPost(t, "", refresh, o.tokenProof(t, newDPoPKey(t))); st != 400 || rb["error"] != "invalid_grant" {
		t.Fatalf("refresh with another key: %d %v", st, rb)
	}
	if st, rb, _ := o.dpopPost(t, "", refresh, o.tokenProof(t, k)); st != 200 || rb["token_type"] != "DPoP" {
		t.Fatalf("refresh with the key: %d %v", st, rb)
	}
}

// TestDPoPCORS: a browser app may send the DPoP header cross-origin and
// read DPoP-Nonce and the challenge.
func TestDPoPCORS(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) {
		c.CORS.AllowedOrigins = []string{"https://app.example.com"}
		c.DPoP.RequireNonce = true
	})
	pre, _ := http.NewRequest("OPTIONS", o.issuer+"/token", nil)
	pre.Header.Set("Origin", "https://app.example.com")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "content-type, dpop")
	resp, err := http.DefaultClient.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "dpop") {
		t.Fatalf("preflight allows %q", resp.Header.Get("Access-Control-Allow-Headers"))
	}
	req, _ := http.NewRequest("POST", o.issuer+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", o.tokenProof(t, newDPoPKey(t)))
	req.SetBasicAuth("rp-post", rpSecret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("DPoP-Nonce") == "" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "DPoP-Nonce") {
		t.Fatalf("nonce %q exposed %q", resp.Header.Get("DPoP-Nonce"), resp.Header.Get("Access-Control-Expose-Headers"))
	}
}

// TestDPoPIntrospectionByResource: a resource server introspecting a
// DPoP-bound token meant for it learns the binding (RFC 9449 §6.2:
// token_type DPoP, cnf.jkt) to check the proof it received.
func TestDPoPIntrospectionByResource(t *testing.T) {
	const api = "https://api.example/dpop"
	o := startOPWith(t, func(c *node.Config) {
		c.Clients = append(c.Clients, node.ClientConfig{ID: "rs", Secret: rpSecret, ClientMetadata: directory.ClientMetadata{
			AuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"},
		}})
		c.Resources = append(c.Resources, node.ResourceConfig{ResourceMetadata: directory.ResourceMetadata{
			Identifier: api, Scopes: []string{"read"}, IntrospectionClient: "rs", ServiceClients: []string{"rp-post"},
		}})
	})
	k := newDPoPKey(t)
	st, b, _ := o.dpopPost(t, "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"rp-post"}, "client_secret": {rpSecret}, "resource": {api}}, o.tokenProof(t, k))
	if st != 200 {
		t.Fatalf("token: %d %v", st, b)
	}
	tok := wantBound(t, b, k.jkt)
	in := o.introspectAs(t, "rs", tok)
	if cnf, _ := in["cnf"].(map[string]any); in["active"] != true || in["token_type"] != "DPoP" || cnf["jkt"] != k.jkt || in["aud"] != api {
		t.Fatalf("introspection by the resource: %v", in)
	}
}
