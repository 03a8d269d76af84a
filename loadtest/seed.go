package loadtest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"authrim/actors/session"
	"authrim/persistence/bbolt"
)

// Population is a set of signed-in sessions, each holding one refresh
// family of ClientES256, written straight into a stopped node's bbolt
// file. Session i's identifiers and secrets are derived from a random key
// and i, so the bench can hand out cookies and refresh tokens for any of
// them without keeping a million records in memory.
type Population struct {
	N        int
	Subjects []string
	Created  time.Time
	key      []byte
}

// NewPopulation describes n sessions spread over the given users.
func NewPopulation(n int, subjects []string, now time.Time) *Population {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &Population{N: n, Subjects: subjects, Created: now.Add(-time.Hour), key: key}
}

func (p *Population) derive(kind string, i, n int) string {
	m := hmac.New(sha256.New, p.key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	m.Write([]byte(kind))
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:n])
}

// Seed is session i.
func (p *Population) Seed(i int) session.Seed {
	g := session.SeedGrant{
		ID: p.derive("grant", i, 16), RefreshSecret: p.derive("refresh", i, 32), ClientID: ClientES256,
		Scopes: strings.Fields(Scope), Created: p.Created, RefreshTTL: 720 * time.Hour,
	}
	scopes := strings.Fields(Scope)
	return session.Seed{
		Sid: p.derive("sid", i, 16), Secret: p.derive("secret", i, 32),
		Subject: p.Subjects[i%len(p.Subjects)], Amr: []string{"pwd"}, Acr: "urn:authrim:acr:password",
		AuthTime: p.Created, LoginTTL: 24 * time.Hour,
		Consents: map[string][]string{ClientES256: scopes, ClientRS256: scopes},
		Grants:   []session.SeedGrant{g},
	}
}

// Cookie is session i's cookie value.
func (p *Population) Cookie(i int) string { return p.Seed(i).Cookie() }

// RefreshToken is the refresh token session i was seeded with.
func (p *Population) RefreshToken(i int) string {
	s := p.Seed(i)
	return s.RefreshToken(s.Grants[0])
}

// Write puts every session of p into dir's bbolt file; the node must be
// stopped. Keys go in in sorted order, in transactions of 50,000, so a
// million sessions take seconds rather than the minutes that one group
// commit per record would.
func (p *Population) Write(dir string) error {
	type ref struct {
		sid string
		i   int
	}
	refs := make([]ref, p.N)
	for i := range p.N {
		refs[i] = ref{p.derive("sid", i, 16), i}
	}
	slices.SortFunc(refs, func(a, b ref) int { return strings.Compare(a.sid, b.sid) })
	db, err := bolt.Open(filepath.Join(dir, bbolt.FileName), 0o600, &bolt.Options{Timeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("loadtest: open store: %w", err)
	}
	defer db.Close()
	const chunk = 50_000
	for start := 0; start < len(refs); start += chunk {
		end := min(start+chunk, len(refs))
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte(session.Bucket))
			if err != nil {
				return err
			}
			b.FillPercent = 0.9
			for _, r := range refs[start:end] {
				k, v, err := session.Seeded(p.Seed(r.i))
				if err != nil {
					return err
				}
				if err := b.Put([]byte(k), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("loadtest: seed sessions: %w", err)
		}
	}
	return nil
}
