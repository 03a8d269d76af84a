package session

import "testing"

// TestACRMeets: two factors are met by password+code or a passkey, never
// by a password alone; a passkey requirement only by a passkey.
func TestACRMeets(t *testing.T) {
	for _, tc := range []struct {
		name, have, want string
		ok               bool
	}{
		{"nothing required", "urn:authrim:acr:password", "", true},
		{"mfa by password and code", acrMFA, acrMFA, true},
		{"mfa by passkey", acrPasskey, acrMFA, true},
		{"mfa not by password", "urn:authrim:acr:password", acrMFA, false},
		{"passkey not by password and code", acrMFA, acrPasskey, false},
		{"passkey by passkey", acrPasskey, acrPasskey, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := acrMeets(tc.have, tc.want); got != tc.ok {
				t.Fatalf("acrMeets(%q, %q) = %v", tc.have, tc.want, got)
			}
		})
	}
}
