package auth

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseRequestObject(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		want    url.Values
		err     string
	}{
		{"parameters and claims", `{"iss":"c1","aud":["x","https://op"],"exp":1700000000,"nbf":1699999000,"jti":"j","client_id":"c1",
			"response_type":"code","max_age":300,"claims":{"id_token":{"acr":{"essential":true}}},"state":"s"}`,
			url.Values{"client_id": {"c1"}, "response_type": {"code"}, "max_age": {"300"}, "claims": {`{"id_token":{"acr":{"essential":true}}}`}, "state": {"s"}}, ""},
		{"aud as a string", `{"aud":"https://op","exp":1}`, url.Values{}, ""},
		{"nested request", `{"request":"a.b.c"}`, nil, "must not contain request"},
		{"nested request_uri", `{"request_uri":"https://x"}`, nil, "must not contain request_uri"},
		{"iss not a string", `{"iss":1}`, nil, "iss"},
		{"exp not a number", `{"exp":"soon"}`, nil, "exp"},
		{"exp negative", `{"exp":-5}`, nil, "exp"},
		{"array parameter", `{"scope":["openid"]}`, nil, "scope"},
		{"null parameter", `{"state":null}`, nil, "state"},
		{"not an object", `["a"]`, nil, "JSON object"},
		{"two objects", `{}{}`, nil, "JSON object"},
		{"null", `null`, nil, "JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, claims, err := ParseRequestObject([]byte(tc.payload))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error about %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Encode() != tc.want.Encode() {
				t.Errorf("params %v, want %v", got, tc.want)
			}
			if tc.name == "parameters and claims" && (claims.Issuer != "c1" || len(claims.Audience) != 2 || *claims.Exp != 1700000000 || *claims.Nbf != 1699999000 || claims.JTI != "j" || claims.ClientID != "c1") {
				t.Errorf("claims %+v", claims)
			}
		})
	}
}

func TestDecodeHeader(t *testing.T) {
	for _, tc := range []struct {
		token string
		parts int
		ok    bool
	}{
		{"eyJhbGciOiJFUzI1NiJ9.e30.c2ln", 3, true},
		{"eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMTI4R0NNIn0.a.b.c.d", 5, true},
		{"eyJhbGciOiJFUzI1NiJ9.e30", 0, false},
		{"e30.e30.", 0, false}, // no alg
		{"!!.e30.", 0, false},
	} {
		_, parts, err := decodeHeader(tc.token)
		if (err == nil) != tc.ok || parts != tc.parts {
			t.Errorf("%s: parts %d err %v", tc.token, parts, err)
		}
	}
}

// FuzzParseRequestObject: any payload either parses into parameters
// without request/request_uri or fails; it never panics.
func FuzzParseRequestObject(f *testing.F) {
	for _, s := range []string{`{"iss":"c","aud":"x","exp":1,"scope":"openid","claims":{"userinfo":{"email":null}}}`,
		`{"request_uri":"x"}`, `{"aud":["a",1]}`, `{"max_age":1e400}`, `[]`, `{"a":true,"b":1.5}`,
		`{"resource":["https://a.example/","urn:x"]}`, `{"resource":[1]}`, `{"resource":[]}`, `{"scope":["a"]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		v, _, err := ParseRequestObject(payload)
		if err != nil {
			return
		}
		if v.Has("request") || v.Has("request_uri") {
			t.Fatalf("nested request parameters passed: %v", v)
		}
		for _, k := range jwtClaims {
			if v.Has(k) {
				t.Fatalf("JWT claim %s became a parameter", k)
			}
		}
		for k, vs := range v {
			// Only resource may repeat (RFC 8707 §2), never empty.
			if len(vs) == 0 || (len(vs) > 1 && k != "resource") {
				t.Fatalf("parameter %s has %d values", k, len(vs))
			}
		}
		_, _, _ = decodeHeader(string(payload))
	})
}
