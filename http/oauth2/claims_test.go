package oauth2

import (
	"testing"
)

func TestReleaseFollowsScopesAndClaimsRequest(t *testing.T) {
	user := map[string]any{"name": "A", "email": "a@example.com", "phone_number": "1", "secret_note": "x"}
	tests := []struct {
		name      string
		scopes    []string
		requested map[string]*ClaimSpec
		want      []string
	}{
		{"profile", []string{"openid", "profile"}, nil, []string{"name"}},
		{"email", []string{"email"}, nil, []string{"email"}},
		{"requested claim without scope", []string{"openid"}, map[string]*ClaimSpec{"phone_number": {Essential: true}}, []string{"phone_number"}},
		{"unknown claim never released", []string{"openid"}, map[string]*ClaimSpec{"secret_note": nil}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Release(user, tt.scopes, tt.requested)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want keys %v", got, tt.want)
			}
			for _, k := range tt.want {
				if _, ok := got[k]; !ok {
					t.Fatalf("got %v, want keys %v", got, tt.want)
				}
			}
		})
	}
}

func FuzzParseClaimsRequest(f *testing.F) {
	f.Add(`{"userinfo":{"email":{"essential":true}},"id_token":{"name":null}}`)
	f.Add(`{"userinfo":{"x":{"values":[1,"a"]}}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseClaimsRequest(s)
		if err == nil && s != "" && r == nil {
			t.Fatal("nil request without error")
		}
	})
}
