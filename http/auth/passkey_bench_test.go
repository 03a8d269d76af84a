package auth

import (
	"encoding/base64"
	"testing"

	"github.com/descope/virtualwebauthn"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"authrim/directory"
)

// BenchmarkPasskeyAssertion measures what a passkey sign-in costs the
// server: parsing the assertion and verifying it (ES256 signature, RP ID
// hash, origin, challenge, flags, counter) as loginFinish does. Building
// the assertion (the authenticator's work) is outside the timer.
func BenchmarkPasskeyAssertion(b *testing.B) {
	wa, err := webauthn.New(&webauthn.Config{RPID: "localhost", RPDisplayName: "Authrim", RPOrigins: []string{"http://localhost:8080"}})
	if err != nil {
		b.Fatal(err)
	}
	rp := virtualwebauthn.RelyingParty{ID: "localhost", Name: "Authrim", Origin: "http://localhost:8080"}
	user := passkeyUser{u: directory.User{Subject: "subject-1", Username: "alice"}}
	auth := virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: user.WebAuthnID()})
	cred := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
	auth.AddCredential(cred)

	creation, sd, err := wa.BeginRegistration(user, webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
		ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: protocol.VerificationRequired}))
	if err != nil {
		b.Fatal(err)
	}
	_ = creation
	attOpts := virtualwebauthn.AttestationOptions{Challenge: []byte(mustDecode(b, sd.Challenge)), RelyingPartyID: "localhost", UserID: string(user.WebAuthnID())}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(virtualwebauthn.CreateAttestationResponse(rp, auth, cred, attOpts)))
	if err != nil {
		b.Fatal(err)
	}
	c, err := wa.CreateCredential(user, *sd, parsed)
	if err != nil {
		b.Fatal(err)
	}
	user.creds = []webauthn.Credential{*c}

	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		_, lsd, err := wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
		if err != nil {
			b.Fatal(err)
		}
		cred.Counter++
		resp := virtualwebauthn.CreateAssertionResponse(rp, auth, cred, virtualwebauthn.AssertionOptions{Challenge: []byte(mustDecode(b, lsd.Challenge)), RelyingPartyID: "localhost"})
		b.StartTimer()
		pa, err := protocol.ParseCredentialRequestResponseBytes([]byte(resp))
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := wa.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return user, nil }, *lsd, pa); err != nil {
			b.Fatal(err)
		}
	}
}

func mustDecode(b *testing.B, s string) string {
	v, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		b.Fatal(err)
	}
	return string(v)
}
