package oauth2

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Scopes we support (OIDC Core §5.4, §11).
// groups is ours: it releases the groups claim (the user's groups, from
// an upstream directory or provider).
var SupportedScopes = []string{"openid", "profile", "email", "address", "phone", "groups", "offline_access"}

// ScopeClaims maps each scope to the claims it releases (OIDC Core §5.4).
var ScopeClaims = map[string][]string{
	"profile": {"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
		"profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"},
	"email":   {"email", "email_verified"},
	"address": {"address"},
	"phone":   {"phone_number", "phone_number_verified"},
	"groups":  {"groups"},
}

// claimScopes are the scopes that release user claims.
var claimScopes = []string{"profile", "email", "address", "phone", "groups"}

// SupportedClaims lists every claim the OP can release.
func SupportedClaims() []string {
	out := []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid", "at_hash"}
	for _, s := range claimScopes {
		out = append(out, ScopeClaims[s]...)
	}
	return out
}

// ClaimSpec is one entry of the claims request (OIDC Core §5.5.1).
type ClaimSpec struct {
	Essential bool  `json:"essential,omitempty"`
	Value     any   `json:"value,omitempty"`
	Values    []any `json:"values,omitempty"`
}

// ClaimsRequest is the "claims" request parameter (OIDC Core §5.5).
type ClaimsRequest struct {
	UserInfo map[string]*ClaimSpec `json:"userinfo,omitempty"`
	IDToken  map[string]*ClaimSpec `json:"id_token,omitempty"`
}

// ParseClaimsRequest parses the parameter; empty input gives nil.
func ParseClaimsRequest(s string) (*ClaimsRequest, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > 4096 {
		return nil, fmt.Errorf("claims parameter too long")
	}
	var r ClaimsRequest
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, fmt.Errorf("claims parameter is not a valid JSON object")
	}
	return &r, nil
}

// Release picks from user the claims granted by scopes plus those named
// in requested, never protocol claims (sub, iss, ... are the caller's).
func Release(user map[string]any, scopes []string, requested map[string]*ClaimSpec) map[string]any {
	out := map[string]any{}
	add := func(name string) {
		if v, ok := user[name]; ok {
			out[name] = v
		}
	}
	for _, s := range scopes {
		for _, c := range ScopeClaims[s] {
			add(c)
		}
	}
	supported := SupportedClaims()
	for name := range requested {
		if slices.Contains(supported, name) {
			add(name)
		}
	}
	return out
}

// Releasable tells whether name is a user claim the OP can release.
func Releasable(name string) bool {
	for _, s := range claimScopes {
		if slices.Contains(ScopeClaims[s], name) {
			return true
		}
	}
	return false
}

// ScopesRelease tells whether one of scopes releases claim name.
func ScopesRelease(scopes []string, name string) bool {
	for _, s := range scopes {
		if slices.Contains(ScopeClaims[s], name) {
			return true
		}
	}
	return false
}
