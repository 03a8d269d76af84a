package node_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The tests here play the client of JWT Secured Authorization Response
// Mode (JARM): they fetch the OP's keys from the jwks_uri of discovery,
// as an RP would, and check every response JWT on their own.

// opKeys is the node's published JWK set, found through discovery.
func (o *op) opKeys(t *testing.T) jose.JSONWebKeySet {
	t.Helper()
	var md map[string]any
	resp, err := http.Get(o.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	decodeJSON(resp, &md)
	resp.Body.Close()
	uri, _ := md["jwks_uri"].(string)
	if uri == "" {
		t.Fatalf("no jwks_uri in discovery: %v", md)
	}
	resp, err = http.Get(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set
}

// jarmClaims verifies a response JWT as client clientID would (JARM
// §2.4): signature by the OP's key of kid with alg, iss, aud, exp; and
// returns its claims.
func (o *op) jarmClaims(t *testing.T, raw, clientID string, alg jose.SignatureAlgorithm) map[string]any {
	t.Helper()
	if raw == "" {
		t.Fatal("no response JWT")
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("response is not a %s JWS: %v", alg, err)
	}
	set := o.opKeys(t)
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in the OP's JWKS", jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["iss"] != o.issuer || claims["aud"] != clientID {
		t.Fatalf("iss/aud: %v", claims)
	}
	exp, _ := claims["exp"].(float64)
	now := o.clock.Now()
	if e := time.Unix(int64(exp), 0); !e.After(now) || e.After(now.Add(11*time.Minute)) {
		t.Fatalf("exp %v not shortly after %v", e, now)
	}
	return claims
}

// onlyResponse checks that the redirect carries the response JWT and
// nothing in the clear.
func onlyResponse(t *testing.T, v url.Values) string {
	t.Helper()
	for _, k := range []string{"code", "state", "error", "iss"} {
		if v.Has(k) {
			t.Fatalf("%s in the clear next to the response JWT: %v", k, v)
		}
	}
	return v.Get("response")
}

// redeemAs exchanges code as a registered client (Basic auth).
func (o *op) redeemAs(t *testing.T, id, secret, code string) (int, map[string]any) {
	t.Helper()
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier}}
	req, _ := http.NewRequest("POST", o.issuer+"/token", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	decodeJSON(resp, &out)
	return resp.StatusCode, out
}

// TestJARMCodeFlow: a client registered with
// authorization_signed_response_alg ES256 gets its code and state in a
// signed JWT, by redirect (jwt, query.jwt) and by auto-posted form
// (form_post.jwt), and redeems the code.
func TestJARMCodeFlow(t *testing.T) {
	o := requestsOP(t, newRPHost(t), false, nil)
	status, cl := o.registerClient(t, initialToken, map[string]any{
		"redirect_uris": []string{rpRedirect}, "grant_types": []string{"authorization_code"},
		"authorization_signed_response_alg": "ES256",
	})
	if status != http.StatusCreated || cl.raw["authorization_signed_response_alg"] != "ES256" {
		t.Fatalf("register: %d %v", status, cl.raw)
	}
	for _, mode := range []string{"jwt", "query.jwt"} {
		t.Run(mode, func(t *testing.T) {
			p := baseParams()
			p["client_id"], p["response_mode"] = cl.ID, mode
			cb := o.signIn(t, browser(t), o.authorizeURL(p))
			claims := o.jarmClaims(t, onlyResponse(t, cb.Query()), cl.ID, jose.ES256)
			code, _ := claims["code"].(string)
			if code == "" || claims["state"] != p["state"] {
				t.Fatalf("claims: %v", claims)
			}
			if st, out := o.redeemAs(t, cl.ID, cl.Secret, code); st != 200 || out["access_token"] == nil {
				t.Fatalf("redeem: %d %v", st, out)
			}
		})
	}
	t.Run("form_post.jwt", func(t *testing.T) {
		b := browser(t)
		p := baseParams()
		p["client_id"], p["response_mode"] = cl.ID, "form_post.jwt"
		r := o.consent(t, b, o.login(t, b, get(t, b, o.authorizeURL(p)), userPassword), "allow")
		if r.status != 200 || !strings.Contains(r.body, `action="`+rpRedirect+`"`) {
			t.Fatalf("form_post.jwt: %d %s", r.status, r.body)
		}
		claims := o.jarmClaims(t, onlyResponse(t, hidden(r.body)), cl.ID, jose.ES256)
		code, _ := claims["code"].(string)
		if code == "" || claims["state"] != p["state"] {
			t.Fatalf("claims: %v", claims)
		}
		if st, out := o.redeemAs(t, cl.ID, cl.Secret, code); st != 200 || out["access_token"] == nil {
			t.Fatalf("redeem: %d %v", st, out)
		}
	})
}

// TestJARMErrors: error responses travel in the JWT too, signed with
// the default RS256 for a client that named no alg.
func TestJARMErrors(t *testing.T) {
	o := startOP(t)
	// prompt=none without a session: login_required.
	p := baseParams()
	p["response_mode"], p["prompt"] = "jwt", "none"
	r := get(t, browser(t), o.authorizeURL(p))
	if r.status != http.StatusFound || r.loc == nil || !strings.HasPrefix(r.loc.String(), rpRedirect) {
		t.Fatalf("prompt=none: %d %v", r.status, r.loc)
	}
	claims := o.jarmClaims(t, onlyResponse(t, r.loc.Query()), "rp", jose.RS256)
	if claims["error"] != "login_required" || claims["state"] != p["state"] {
		t.Fatalf("claims: %v", claims)
	}

	// Consent denied, by form_post.jwt.
	b := browser(t)
	p = baseParams()
	p["response_mode"] = "form_post.jwt"
	r = o.consent(t, b, o.login(t, b, get(t, b, o.authorizeURL(p)), userPassword), "deny")
	claims = o.jarmClaims(t, onlyResponse(t, hidden(r.body)), "rp", jose.RS256)
	if claims["error"] != "access_denied" || claims["state"] != p["state"] || claims["code"] != nil {
		t.Fatalf("claims: %v", claims)
	}

	// A request error after the client and redirect URI are known.
	p = baseParams()
	p["response_mode"], p["code_challenge_method"] = "jwt", "plain"
	r = get(t, browser(t), o.authorizeURL(p))
	if r.loc == nil {
		t.Fatalf("invalid request: %d %s", r.status, r.body)
	}
	claims = o.jarmClaims(t, onlyResponse(t, r.loc.Query()), "rp", jose.RS256)
	if claims["error"] != "invalid_request" {
		t.Fatalf("claims: %v", claims)
	}
}

// TestJARMEncrypted: a client that registered
// authorization_encrypted_response_alg gets the signed response JWT
// encrypted to its key (nested, cty JWT), and opens it.
func TestJARMEncrypted(t *testing.T) {
	o := requestsOP(t, newRPHost(t), false, nil)
	keys := newRPKeys(t)
	status, cl := o.registerClient(t, initialToken, map[string]any{
		"redirect_uris": []string{rpRedirect}, "grant_types": []string{"authorization_code"},
		"jwks": json.RawMessage(keys.jwks(t)), "authorization_encrypted_response_alg": "RSA-OAEP-256",
	})
	if status != http.StatusCreated || cl.raw["authorization_encrypted_response_enc"] != "A128CBC-HS256" {
		t.Fatalf("register: %d %v", status, cl.raw)
	}
	p := baseParams()
	p["client_id"], p["response_mode"] = cl.ID, "jwt"
	cb := o.signIn(t, browser(t), o.authorizeURL(p))
	raw := onlyResponse(t, cb.Query())
	if strings.Count(raw, ".") != 4 {
		t.Fatalf("response is not a JWE: %q", raw)
	}
	jwe, err := jose.ParseEncryptedCompact(raw, []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A128CBC_HS256})
	if err != nil {
		t.Fatal(err)
	}
	if jwe.Header.ExtraHeaders["cty"] != "JWT" {
		t.Errorf("nested JWT without cty: %v", jwe.Header.ExtraHeaders)
	}
	inner, err := jwe.Decrypt(keys.enc)
	if err != nil {
		t.Fatal(err)
	}
	claims := o.jarmClaims(t, string(inner), cl.ID, jose.RS256)
	code, _ := claims["code"].(string)
	if code == "" || claims["state"] != p["state"] {
		t.Fatalf("claims: %v", claims)
	}
	if st, out := o.redeemAs(t, cl.ID, cl.Secret, code); st != 200 || out["access_token"] == nil {
		t.Fatalf("redeem: %d %v", st, out)
	}
}

// TestJARMEncryptionFailureSendsNothing: when the client's encryption
// key cannot be found, the browser gets an error page; the response
// never goes out signed only or in the clear.
func TestJARMEncryptionFailureSendsNothing(t *testing.T) {
	host := newRPHost(t)
	o := requestsOP(t, host, true, nil)
	keys := newRPKeys(t)
	sigOnly, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &keys.sig.PublicKey, KeyID: "rp-sig", Use: "sig", Algorithm: "ES256"}}})
	status, cl := o.registerClient(t, initialToken, map[string]any{
		"redirect_uris": []string{rpRedirect}, "grant_types": []string{"authorization_code"},
		"jwks_uri": host.set("/jwks", sigOnly, "no-store"), "authorization_encrypted_response_alg": "RSA-OAEP-256",
	})
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, cl.raw)
	}
	b := browser(t)
	p := baseParams()
	p["client_id"], p["response_mode"] = cl.ID, "jwt"
	r := o.consent(t, b, o.login(t, b, get(t, b, o.authorizeURL(p)), userPassword), "allow")
	if r.status != http.StatusInternalServerError || r.loc != nil || strings.Contains(r.body, rpRedirect) {
		t.Fatalf("expected an error page, got %d %v %s", r.status, r.loc, r.body)
	}
}

// TestJARMThroughPARAndRequestObjects: response_mode given in a pushed
// request or inside a signed request object applies.
func TestJARMThroughPARAndRequestObjects(t *testing.T) {
	o := requestsOP(t, newRPHost(t), false, nil)
	keys := newRPKeys(t)
	_, cl := o.registerClient(t, initialToken, map[string]any{
		"redirect_uris": []string{rpRedirect}, "grant_types": []string{"authorization_code"},
		"jwks": json.RawMessage(keys.jwks(t)), "request_object_signing_alg": "ES256",
		"authorization_signed_response_alg": "ES256",
	})
	if cl.ID == "" {
		t.Fatalf("register: %v", cl.raw)
	}

	v := url.Values{}
	for k, val := range baseParams() {
		v.Set(k, val)
	}
	v.Set("client_id", cl.ID)
	v.Set("response_mode", "jwt")
	st, out := o.push(t, cl.ID, cl.Secret, v)
	uri, _ := out["request_uri"].(string)
	if st != http.StatusCreated || uri == "" {
		t.Fatalf("par: %d %v", st, out)
	}
	cb := o.signIn(t, browser(t), o.authorizeWith(url.Values{"client_id": {cl.ID}, "request_uri": {uri}}))
	claims := o.jarmClaims(t, onlyResponse(t, cb.Query()), cl.ID, jose.ES256)
	if claims["code"] == nil || claims["state"] != v.Get("state") {
		t.Fatalf("par claims: %v", claims)
	}

	oc := o.objectClaims(cl.ID, "in-object")
	oc["response_mode"] = "query.jwt"
	obj := signObj(t, jose.ES256, keys.sig, "rp-sig", oc)
	cb = o.signIn(t, browser(t), o.authorizeWith(url.Values{"client_id": {cl.ID}, "response_type": {"code"}, "scope": {"openid"}, "request": {obj}}))
	claims = o.jarmClaims(t, onlyResponse(t, cb.Query()), cl.ID, jose.ES256)
	if claims["code"] == nil || claims["state"] != "in-object" {
		t.Fatalf("object claims: %v", claims)
	}
}

// TestJARMRefusals: fragment.jwt (no fragment responses here) and
// unknown modes are refused at /authorize and /par; unsupported
// response algorithms at registration.
func TestJARMRefusals(t *testing.T) {
	o := requestsOP(t, newRPHost(t), false, nil)
	for _, mode := range []string{"fragment.jwt", "fragment", "jwt.query", "JWT"} {
		p := baseParams()
		p["response_mode"] = mode
		r := get(t, browser(t), o.authorizeURL(p))
		if r.status != http.StatusFound || r.loc == nil || r.loc.Query().Get("error") != "invalid_request" || r.loc.Query().Has("response") {
			t.Errorf("%s at /authorize: %d %v", mode, r.status, r.loc)
		}
		v := url.Values{}
		for k, val := range baseParams() {
			v.Set(k, val)
		}
		v.Set("response_mode", mode)
		if st, out := o.push(t, "rp", rpSecret, v); st != http.StatusBadRequest || out["error"] != "invalid_request" {
			t.Errorf("%s at /par: %d %v", mode, st, out)
		}
	}
	for name, md := range map[string]map[string]any{
		"HMAC signing":       {"authorization_signed_response_alg": "HS256"},
		"unsigned":           {"authorization_signed_response_alg": "none"},
		"alg without key":    {"authorization_signed_response_alg": "PS512"},
		"encryption no keys": {"authorization_encrypted_response_alg": "RSA-OAEP-256"},
		"enc without alg":    {"authorization_encrypted_response_enc": "A128GCM"},
	} {
		md["redirect_uris"] = []string{rpRedirect}
		if st, r := o.registerClient(t, initialToken, md); st != http.StatusBadRequest || r.raw["error"] != "invalid_client_metadata" {
			t.Errorf("%s: %d %v", name, st, r.raw)
		}
	}
}

// TestJARMDiscovery: the jwt modes and the response algorithms are
// advertised (JARM §4).
func TestJARMDiscovery(t *testing.T) {
	o := requestsOP(t, newRPHost(t), false, nil)
	var md map[string]any
	resp, err := http.Get(o.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	decodeJSON(resp, &md)
	modes, _ := json.Marshal(md["response_modes_supported"])
	for _, m := range []string{`"jwt"`, `"query.jwt"`, `"form_post.jwt"`} {
		if !strings.Contains(string(modes), m) {
			t.Errorf("response_modes_supported %s lacks %s", modes, m)
		}
	}
	if strings.Contains(string(modes), "fragment") {
		t.Errorf("fragment modes advertised: %s", modes)
	}
	algs, _ := json.Marshal(md["authorization_signing_alg_values_supported"])
	if !strings.Contains(string(algs), `"RS256"`) || !strings.Contains(string(algs), `"ES256"`) {
		t.Errorf("authorization_signing_alg_values_supported: %s", algs)
	}
	if md["authorization_encryption_alg_values_supported"] == nil || md["authorization_encryption_enc_values_supported"] == nil {
		t.Errorf("encryption values missing: %v", md)
	}
}
