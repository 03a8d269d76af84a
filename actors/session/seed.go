package session

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
)

// Seed describes a signed-in browser session to write straight into the
// store, for load tests and imports that need many sessions and refresh
// families without running a sign-in (an argon2id run) for each. The
// record it builds is exactly what a grain would have persisted after a
// sign-in, consents and one code redemption per grant.
type Seed struct {
	// Sid and Secret make the cookie value "sid.secret".
	Sid, Secret string
	// Subject, Amr and Acr are the login; AuthTime when it happened.
	Subject  string
	Amr      []string
	Acr      string
	AuthTime time.Time
	// LoginTTL is how long the login lasts from AuthTime (session.ttl).
	LoginTTL time.Duration
	// Consents per client_id.
	Consents map[string][]string
	Grants   []SeedGrant
}

// SeedGrant is one refresh-token family of a seeded session.
type SeedGrant struct {
	// ID and RefreshSecret make the refresh token "sid.id.secret".
	ID, RefreshSecret string
	ClientID          string
	Scopes            []string
	Created           time.Time
	// RefreshTTL is the family's lifetime from Created.
	RefreshTTL time.Duration
}

// ErrSeed reports a Seed that would not make a valid record.
var ErrSeed = errors.New("session: invalid seed")

// Cookie is the session cookie value of the seeded session.
func (s Seed) Cookie() string { return s.Sid + "." + s.Secret }

// RefreshToken is the refresh token of the seeded session's grant g.
func (s Seed) RefreshToken(g SeedGrant) string { return s.Sid + "." + g.ID + "." + g.RefreshSecret }

// Seeded returns the key (in Bucket) and the stored value of the
// session s describes. The parts of the cookie and refresh tokens must
// pass the same checks as the tokens the grain issues.
func Seeded(s Seed) (key string, value []byte, err error) {
	switch {
	case !validPart(s.Sid, 16) || !validPart(s.Secret, 32):
		return "", nil, fmt.Errorf("%w: sid or secret", ErrSeed)
	case s.Subject == "":
		return "", nil, fmt.Errorf("%w: no subject", ErrSeed)
	case s.LoginTTL <= 0:
		return "", nil, fmt.Errorf("%w: no login lifetime", ErrSeed)
	}
	login := &messages.Login{Subject: s.Subject, AuthTimeMs: s.AuthTime.UnixMilli(), Amr: s.Amr, Acr: s.Acr}
	st := &messages.SessionState{
		Sid:            s.Sid,
		SecretHash:     hash(s.Secret),
		CreatedMs:      s.AuthTime.UnixMilli(),
		Login:          login,
		LoginExpiresMs: s.AuthTime.Add(s.LoginTTL).UnixMilli(),
	}
	if len(s.Consents) > 0 {
		st.Consents = make(map[string]*messages.Consent, len(s.Consents))
		for client, scopes := range s.Consents {
			st.Consents[client] = &messages.Consent{Scopes: scopes}
		}
	}
	for _, g := range s.Grants {
		if !validPart(g.ID, 16) || !validPart(g.RefreshSecret, 32) || g.ClientID == "" || g.RefreshTTL <= 0 {
			return "", nil, fmt.Errorf("%w: grant %q", ErrSeed, g.ID)
		}
		st.Grants = append(st.Grants, &messages.Grant{
			Id:               g.ID,
			ClientId:         g.ClientID,
			Scopes:           g.Scopes,
			Login:            login,
			CreatedMs:        g.Created.UnixMilli(),
			RefreshExpiresMs: g.Created.Add(g.RefreshTTL).UnixMilli(),
			RefreshHash:      hash(g.RefreshSecret),
		})
	}
	b, err := proto.Marshal(st)
	if err != nil {
		return "", nil, err
	}
	return s.Sid, b, nil
}
