package clustertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"authrim/http/dpop"
)

// clusterProof signs a DPoP proof with key for htm and the issuer's path.
func clusterProof(t *testing.T, key *ecdsa.PrivateKey, htm, htu, ath string) string {
	t.Helper()
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	c := map[string]any{"htm": htm, "htu": htu, "iat": time.Now().Unix(), "jti": base64.RawURLEncoding.EncodeToString(jti)}
	if ath != "" {
		c["ath"] = ath
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

func dpopTokenReq(m *member, v url.Values, proof string) (int, map[string]any, error) {
	req, _ := http.NewRequest("POST", m.url()+"/token", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("rp", rpSecret)
	req.Header.Set("DPoP", proof)
	return doJSON(req)
}

// TestDPoPProofUsedOnceAcrossTheCluster: a proof's jti is recorded in
// the shared store, so a proof accepted by one member is refused by
// another (RFC 9449 §11.1), and the same proof sent to two members at
// once is accepted by exactly one; a DPoP-bound token works on every
// member with a proof by its key.
func TestDPoPProofUsedOnceAcrossTheCluster(t *testing.T) {
	tc := startCluster(t, 3)
	n1, n2, n3 := tc.members[0], tc.members[1], tc.members[2]
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	code, verifier, err := signIn(newBrowser(), tc, n1)
	if err != nil {
		t.Fatal(err)
	}
	tokenURI := tc.issuer + "/token"
	p := clusterProof(t, key, "POST", tokenURI, "")
	st, tok, err := dpopTokenReq(n1, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {rpRedirect}, "code_verifier": {verifier}}, p)
	if err != nil || st != 200 || tok["token_type"] != "DPoP" {
		t.Fatalf("redeem on node1: %d %v %v", st, tok, err)
	}
	rt := tok["refresh_token"].(string)
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	// The proof node 1 accepted, replayed on node 2.
	if st, b, err := dpopTokenReq(n2, refresh, p); err != nil || st != 400 || b["error"] != "invalid_dpop_proof" {
		t.Fatalf("replayed proof on node2: %d %v %v", st, b, err)
	}
	st, tok, err = dpopTokenReq(n2, refresh, clusterProof(t, key, "POST", tokenURI, ""))
	if err != nil || st != 200 || tok["token_type"] != "DPoP" {
		t.Fatalf("refresh with a fresh proof on node2: %d %v %v", st, tok, err)
	}

	// One userinfo proof to two members at once: one wins.
	at := tok["access_token"].(string)
	up := clusterProof(t, key, "GET", tc.issuer+"/userinfo", dpop.ATH(at))
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, m := range []*member{n2, n3} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", m.url()+"/userinfo", nil)
			req.Header.Set("Authorization", "DPoP "+at)
			req.Header.Set("DPoP", up)
			codes[i], _, _ = doJSON(req)
		}()
	}
	wg.Wait()
	if !(codes[0] == 200 && codes[1] == 401 || codes[0] == 401 && codes[1] == 200) {
		t.Fatalf("same proof on two nodes at once: %v, want one 200 and one 401", codes)
	}
}
