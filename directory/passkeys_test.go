package directory_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"authrim/directory"
	"authrim/persistence"
)

// newPasskey returns a passkey with a random 16-byte credential ID whose
// ID is only set in the credential (as webauthn.NewCredential leaves it).
func newPasskey(t *testing.T, name string) directory.Passkey {
	t.Helper()
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	return directory.Passkey{
		Name: name,
		Credential: webauthn.Credential{
			ID:                id,
			PublicKey:         []byte{0xa5, 0x01, 0x02, 0x03, 0x26}, // shape of a COSE key; never parsed here
			AttestationFormat: "none",
			Transport:         []protocol.AuthenticatorTransport{protocol.Internal, protocol.Hybrid},
			Flags:             webauthn.NewCredentialFlags(protocol.FlagUserPresent | protocol.FlagUserVerified | protocol.FlagBackupEligible | protocol.FlagBackupState),
			Authenticator: webauthn.Authenticator{
				AAGUID:    []byte{0xea, 0x9b, 0x8d, 0x66, 0x4d, 0x01, 0x1d, 0x21, 0x3c, 0xe4, 0xb6, 0xb4, 0x8c, 0xb5, 0x75, 0xd4},
				SignCount: 7,
			},
		},
	}
}

func mustAddPasskey(t *testing.T, d *directory.Directory, subject string, pk directory.Passkey) {
	t.Helper()
	if err := d.AddPasskey(context.Background(), subject, pk); err != nil {
		t.Fatalf("AddPasskey(%q): %v", pk.Name, err)
	}
}

func TestPasskeyLifecycle(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	opts := fast
	opts.Now = func() time.Time { return now }
	d, _ := newDirectory(t, opts)
	alice := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "correct horse"})

	got, err := d.Passkeys(ctx, alice.Subject)
	if err != nil || len(got) != 0 {
		t.Fatalf("Passkeys of a user without any: %v, %v", got, err)
	}
	if _, err := d.Passkeys(ctx, "no-such-subject"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("Passkeys of an unknown user: %v, want ErrNotFound", err)
	}

	phone := newPasskey(t, "")
	key := newPasskey(t, "  YubiKey 5  ")
	key.ID = key.Credential.ID // both set, equal: fine
	mustAddPasskey(t, d, alice.Subject, phone)
	mustAddPasskey(t, d, alice.Subject, key)

	got, err = d.Passkeys(ctx, alice.Subject)
	if err != nil || len(got) != 2 {
		t.Fatalf("Passkeys: %d, %v; want 2", len(got), err)
	}
	p := got[0]
	if !bytes.Equal(p.ID, phone.Credential.ID) || !bytes.Equal(p.Credential.ID, phone.Credential.ID) {
		t.Errorf("ID %x / credential ID %x, want %x", p.ID, p.Credential.ID, phone.Credential.ID)
	}
	if p.Name != directory.DefaultPasskeyName || got[1].Name != "YubiKey 5" {
		t.Errorf("names %q, %q: want the default and the trimmed label", p.Name, got[1].Name)
	}
	if !p.Created.Equal(now) || !p.LastUsed.IsZero() || p.Flagged {
		t.Errorf("created %v, last used %v, flagged %v", p.Created, p.LastUsed, p.Flagged)
	}
	c := p.Credential
	if !c.Flags.BackupEligible || !c.Flags.BackupState || !c.Flags.UserVerified || c.Flags.ProtocolValue() != phone.Credential.Flags.ProtocolValue() {
		t.Errorf("flags did not survive the store: %+v (raw %08b)", c.Flags, c.Flags.ProtocolValue())
	}
	if !bytes.Equal(c.PublicKey, phone.Credential.PublicKey) || !bytes.Equal(c.Authenticator.AAGUID, phone.Credential.Authenticator.AAGUID) ||
		c.Authenticator.SignCount != 7 || len(c.Transport) != 2 || c.Transport[1] != protocol.Hybrid || c.AttestationFormat != "none" {
		t.Errorf("credential did not survive the store: %+v", c)
	}
	if owner, err := d.PasskeyOwner(ctx, phone.Credential.ID); err != nil || owner != alice.Subject {
		t.Errorf("PasskeyOwner: %q, %v", owner, err)
	}

	// Update: a sign-in bumps the counter and the last use.
	used := now.Add(time.Hour)
	err = d.UpdatePasskey(ctx, alice.Subject, phone.Credential.ID, func(p *directory.Passkey) error {
		p.Credential.Authenticator.SignCount = 8
		p.LastUsed = used
		p.Name = "Phone"
		return nil
	})
	if err != nil {
		t.Fatalf("UpdatePasskey: %v", err)
	}
	got, _ = d.Passkeys(ctx, alice.Subject)
	if got[0].Credential.Authenticator.SignCount != 8 || !got[0].LastUsed.Equal(used) || got[0].Name != "Phone" {
		t.Errorf("after update: %+v", got[0])
	}

	errStop := errors.New("stop")
	for _, tc := range []struct {
		name string
		id   []byte
		fn   func(*directory.Passkey) error
		want error
	}{
		{"unknown passkey", []byte("no such credential"), func(*directory.Passkey) error { return nil }, directory.ErrNotFound},
		{"fn error returned as is", phone.Credential.ID, func(p *directory.Passkey) error { p.Name = "lost"; return errStop }, errStop},
		{"ID change", phone.Credential.ID, func(p *directory.Passkey) error { p.ID = []byte("other"); return nil }, directory.ErrInvalid},
		{"credential ID change", phone.Credential.ID, func(p *directory.Passkey) error { p.Credential.ID = []byte("other"); return nil }, directory.ErrInvalid},
		{"bad name", phone.Credential.ID, func(p *directory.Passkey) error { p.Name = strings.Repeat("x", 65); return nil }, directory.ErrInvalid},
		{"control character", phone.Credential.ID, func(p *directory.Passkey) error { p.Name = "a\x00b"; return nil }, directory.ErrInvalid},
	} {
		t.Run("update/"+tc.name, func(t *testing.T) {
			if err := d.UpdatePasskey(ctx, alice.Subject, tc.id, tc.fn); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if err := d.UpdatePasskey(ctx, "no-such-subject", phone.Credential.ID, func(*directory.Passkey) error { return nil }); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("update for an unknown user: %v", err)
	}
	got, _ = d.Passkeys(ctx, alice.Subject)
	if got[0].Name != "Phone" || !bytes.Equal(got[0].ID, phone.Credential.ID) {
		t.Errorf("a refused update changed the passkey: %+v", got[0])
	}

	// Delete.
	if err := d.DeletePasskey(ctx, alice.Subject, phone.Credential.ID); err != nil {
		t.Fatalf("DeletePasskey: %v", err)
	}
	got, _ = d.Passkeys(ctx, alice.Subject)
	if len(got) != 1 || got[0].Name != "YubiKey 5" {
		t.Errorf("after delete: %+v", got)
	}
	if _, err := d.PasskeyOwner(ctx, phone.Credential.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("PasskeyOwner of a deleted passkey: %v", err)
	}
	if err := d.DeletePasskey(ctx, alice.Subject, phone.Credential.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("delete again: %v, want ErrNotFound", err)
	}
	if err := d.DeletePasskey(ctx, alice.Subject, nil); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("delete of an empty ID: %v, want ErrNotFound", err)
	}
	// The freed ID can be registered again.
	mustAddPasskey(t, d, alice.Subject, phone)
	// Deleting the last passkey deletes the record.
	for _, id := range [][]byte{phone.Credential.ID, key.Credential.ID} {
		if err := d.DeletePasskey(ctx, alice.Subject, id); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := d.Passkeys(ctx, alice.Subject); err != nil || len(got) != 0 {
		t.Errorf("after deleting all: %v, %v", got, err)
	}
}

func TestAddPasskeyInvalid(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t, fast)
	alice := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "correct horse"})
	for _, tc := range []struct {
		name   string
		change func(*directory.Passkey)
		want   error
		reason string
	}{
		{"no ID", func(p *directory.Passkey) { p.Credential.ID = nil }, directory.ErrInvalid, "credential ID"},
		{"IDs differ", func(p *directory.Passkey) { p.ID = []byte("something else") }, directory.ErrInvalid, "differ"},
		{"ID too long", func(p *directory.Passkey) { p.Credential.ID = make([]byte, 1024) }, directory.ErrInvalid, "1023"},
		{"no public key", func(p *directory.Passkey) { p.Credential.PublicKey = nil }, directory.ErrInvalid, "public key"},
		{"name too long", func(p *directory.Passkey) { p.Name = strings.Repeat("é", 65) }, directory.ErrInvalid, "name"},
		{"name with newline", func(p *directory.Passkey) { p.Name = "a\nb" }, directory.ErrInvalid, "control"},
		{"name not UTF-8", func(p *directory.Passkey) { p.Name = "\xff" }, directory.ErrInvalid, "UTF-8"},
		{"huge attestation", func(p *directory.Passkey) { p.Credential.Attestation.Object = make([]byte, 70<<10) }, directory.ErrInvalid, "larger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pk := newPasskey(t, "ok")
			tc.change(&pk)
			err := d.AddPasskey(ctx, alice.Subject, pk)
			var ie *directory.InvalidError
			if !errors.Is(err, tc.want) || !errors.As(err, &ie) || !strings.Contains(ie.Reason, tc.reason) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.want, tc.reason)
			}
		})
	}
	if err := d.AddPasskey(ctx, alice.Subject, newPasskey(t, strings.Repeat("é", 64))); err != nil {
		t.Errorf("a 64-character name: %v", err)
	}
	if err := d.AddPasskey(ctx, "no-such-subject", newPasskey(t, "x")); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("unknown user: %v, want ErrNotFound", err)
	}
	if got, _ := d.Passkeys(ctx, alice.Subject); len(got) != 1 {
		t.Errorf("refused passkeys were stored: %d", len(got))
	}
}

func TestPasskeyIDUniqueAcrossUsers(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t, fast)
	alice := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "correct horse"})
	bob := mustCreateUser(t, d, directory.NewUser{Username: "bob", Password: "correct horse"})

	pk := newPasskey(t, "shared")
	mustAddPasskey(t, d, alice.Subject, pk)
	for _, who := range []directory.User{bob, alice} {
		err := d.AddPasskey(ctx, who.Subject, pk)
		if !errors.Is(err, directory.ErrPasskeyExists) || !errors.Is(err, directory.ErrConflict) || !errors.Is(err, persistence.ErrConflict) {
			t.Errorf("second registration for %s: %v, want ErrPasskeyExists (a conflict)", who.Username, err)
		}
	}
	if got, _ := d.Passkeys(ctx, bob.Subject); len(got) != 0 {
		t.Errorf("bob got %d passkeys", len(got))
	}
	if got, _ := d.Passkeys(ctx, alice.Subject); len(got) != 1 {
		t.Errorf("alice has %d passkeys, want 1", len(got))
	}
	if owner, _ := d.PasskeyOwner(ctx, pk.Credential.ID); owner != alice.Subject {
		t.Errorf("owner %q", owner)
	}

	// Concurrent registrations of one new credential: exactly one wins.
	users := make([]directory.User, 8)
	for i := range users {
		users[i] = mustCreateUser(t, d, directory.NewUser{Username: "racer" + string(rune('a'+i)), Password: "correct horse"})
	}
	contested := newPasskey(t, "contested")
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Go(func() {
			switch err := d.AddPasskey(ctx, u.Subject, contested); {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, directory.ErrPasskeyExists):
				conflicts.Add(1)
			default:
				t.Errorf("AddPasskey: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != int32(len(users)-1) {
		t.Errorf("%d wins, %d conflicts; want 1 and %d", wins.Load(), conflicts.Load(), len(users)-1)
	}
	owner, err := d.PasskeyOwner(ctx, contested.Credential.ID)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, u := range users {
		got, _ := d.Passkeys(ctx, u.Subject)
		total += len(got)
		if len(got) == 1 && u.Subject != owner {
			t.Errorf("%s holds the passkey, the index says %s", u.Subject, owner)
		}
	}
	if total != 1 {
		t.Errorf("%d users hold the contested passkey", total)
	}
}

func TestDeleteUserRemovesPasskeys(t *testing.T) {
	ctx := context.Background()
	d, s := newDirectory(t, fast)
	alice := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "correct horse"})
	bob := mustCreateUser(t, d, directory.NewUser{Username: "bob", Password: "correct horse"})
	a1, a2 := newPasskey(t, "one"), newPasskey(t, "two")
	mustAddPasskey(t, d, alice.Subject, a1)
	mustAddPasskey(t, d, alice.Subject, a2)
	b1 := newPasskey(t, "bob's")
	mustAddPasskey(t, d, bob.Subject, b1)

	if err := d.DeleteUser(ctx, "ALICE"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := d.Passkeys(ctx, alice.Subject); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("Passkeys of a deleted user: %v", err)
	}
	if _, err := s.Get(ctx, directory.BucketPasskeys, alice.Subject); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("the passkey record survived: %v", err)
	}
	for _, pk := range []directory.Passkey{a1, a2} {
		if _, err := s.Get(ctx, directory.BucketPasskeyIDs, directory.PasskeyKey(pk.Credential.ID)); !errors.Is(err, persistence.ErrNotFound) {
			t.Errorf("index entry of %q survived: %v", pk.Name, err)
		}
		if _, err := d.PasskeyOwner(ctx, pk.Credential.ID); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("PasskeyOwner(%q): %v", pk.Name, err)
		}
		// The IDs are free again.
		mustAddPasskey(t, d, bob.Subject, pk)
	}
	if got, _ := d.Passkeys(ctx, bob.Subject); len(got) != 3 {
		t.Errorf("bob has %d passkeys, want 3", len(got))
	}

	// A delete that died after removing the user record left its passkeys
	// behind: deleting the subject again finishes the job.
	carol := mustCreateUser(t, d, directory.NewUser{Username: "carol", Password: "correct horse"})
	c1 := newPasskey(t, "carol's")
	mustAddPasskey(t, d, carol.Subject, c1)
	if err := s.Delete(ctx, directory.BucketUsers, carol.Subject); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteUser(ctx, carol.Subject); err != nil {
		t.Fatalf("DeleteUser of the remains: %v", err)
	}
	if _, err := s.Get(ctx, directory.BucketPasskeyIDs, directory.PasskeyKey(c1.Credential.ID)); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("index entry of the remains survived: %v", err)
	}
	if err := d.DeleteUser(ctx, carol.Subject); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("delete again: %v, want ErrNotFound", err)
	}
	// And through a dangling username (the name still points to a
	// subject whose record is gone).
	dave := mustCreateUser(t, d, directory.NewUser{Username: "dave", Password: "correct horse"})
	d1 := newPasskey(t, "dave's")
	mustAddPasskey(t, d, dave.Subject, d1)
	if err := s.Delete(ctx, directory.BucketUsers, dave.Subject); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteUser(ctx, "dave"); err != nil {
		t.Fatalf("DeleteUser by dangling name: %v", err)
	}
	mustAddPasskey(t, d, bob.Subject, d1)
}

func TestPasskeyLimit(t *testing.T) {
	ctx := context.Background()
	d, s := newDirectory(t, fast)
	alice := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "correct horse"})
	var first directory.Passkey
	for i := range directory.MaxPasskeys {
		pk := newPasskey(t, "")
		if i == 0 {
			first = pk
		}
		mustAddPasskey(t, d, alice.Subject, pk)
	}
	extra := newPasskey(t, "one too many")
	err := d.AddPasskey(ctx, alice.Subject, extra)
	var ie *directory.InvalidError
	if !errors.As(err, &ie) || !strings.Contains(ie.Reason, "at most 20") {
		t.Fatalf("21st passkey: %v, want ErrInvalid", err)
	}
	if _, err := s.Get(ctx, directory.BucketPasskeyIDs, directory.PasskeyKey(extra.Credential.ID)); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("the refused passkey left an index entry: %v", err)
	}
	if err := d.DeletePasskey(ctx, alice.Subject, first.Credential.ID); err != nil {
		t.Fatal(err)
	}
	mustAddPasskey(t, d, alice.Subject, extra)

	// The limit holds under concurrency too (the check inside the atomic
	// update, not the early one, decides), and losers leave no index
	// entry behind.
	bob := mustCreateUser(t, d, directory.NewUser{Username: "bob", Password: "correct horse"})
	for range directory.MaxPasskeys - 1 {
		mustAddPasskey(t, d, bob.Subject, newPasskey(t, ""))
	}
	racers := make([]directory.Passkey, 6)
	var wg sync.WaitGroup
	var wins atomic.Int32
	for i := range racers {
		racers[i] = newPasskey(t, "racer")
		wg.Go(func() {
			if err := d.AddPasskey(ctx, bob.Subject, racers[i]); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, directory.ErrInvalid) {
				t.Errorf("AddPasskey: %v", err)
			}
		})
	}
	wg.Wait()
	got, _ := d.Passkeys(ctx, bob.Subject)
	if wins.Load() != 1 || len(got) != directory.MaxPasskeys {
		t.Errorf("%d wins, %d passkeys; want 1 and %d", wins.Load(), len(got), directory.MaxPasskeys)
	}
	indexed := 0
	for _, r := range racers {
		if _, err := s.Get(ctx, directory.BucketPasskeyIDs, directory.PasskeyKey(r.Credential.ID)); err == nil {
			indexed++
		}
	}
	if indexed != 1 {
		t.Errorf("%d racers are indexed, want 1", indexed)
	}
}

func TestUpdatePasskeyConcurrent(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t, fast)
	alice := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "correct horse"})
	a, b := newPasskey(t, "a"), newPasskey(t, "b")
	mustAddPasskey(t, d, alice.Subject, a)
	mustAddPasskey(t, d, alice.Subject, b)
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Two passkeys in one record: updates of either must not undo
			// the other's.
			id := a.Credential.ID
			if i%2 == 1 {
				id = b.Credential.ID
			}
			err := d.UpdatePasskey(ctx, alice.Subject, id, func(p *directory.Passkey) error {
				p.Credential.Authenticator.SignCount++
				return nil
			})
			if err != nil {
				t.Errorf("UpdatePasskey: %v", err)
			}
		})
	}
	wg.Wait()
	got, err := d.Passkeys(ctx, alice.Subject)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		if want := uint32(7 + n/2); p.Credential.Authenticator.SignCount != want {
			t.Errorf("%s: sign count %d, want %d (lost updates)", p.Name, p.Credential.Authenticator.SignCount, want)
		}
	}
}

// hookStore runs before() ahead of each write to the passkeys bucket, and
// fails it when failPasskeys is set.
type hookStore struct {
	persistence.Backend
	before       func()
	failPasskeys bool
}

var errInjected = errors.New("injected failure")

func (h *hookStore) Update(ctx context.Context, bucket persistence.Bucket, key string, fn func([]byte, bool) ([]byte, error)) error {
	if bucket == directory.BucketPasskeys {
		if h.before != nil {
			h.before()
		}
		if h.failPasskeys {
			return errInjected
		}
	}
	return h.Backend.Update(ctx, bucket, key, fn)
}

func TestAddPasskeyRollsBack(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	h := &hookStore{Backend: s}
	d, err := directory.New(h, fast)
	if err != nil {
		t.Fatal(err)
	}
	alice := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "correct horse"})

	// The record write fails: the index entry is released.
	pk := newPasskey(t, "x")
	h.failPasskeys = true
	if err := d.AddPasskey(ctx, alice.Subject, pk); !errors.Is(err, errInjected) {
		t.Fatalf("got %v, want the injected failure", err)
	}
	h.failPasskeys = false
	if _, err := s.Get(ctx, directory.BucketPasskeyIDs, directory.PasskeyKey(pk.Credential.ID)); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("index entry left behind: %v", err)
	}

	// The user is deleted (DeleteUser's sweep already done) just before
	// the record is written: the add undoes itself.
	h.before = func() {
		h.before = nil
		if err := d.DeleteUser(ctx, alice.Subject); err != nil {
			t.Errorf("DeleteUser: %v", err)
		}
	}
	if err := d.AddPasskey(ctx, alice.Subject, pk); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("add racing a delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, directory.BucketPasskeys, alice.Subject); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("passkey record of the deleted user left behind: %v", err)
	}
	if _, err := s.Get(ctx, directory.BucketPasskeyIDs, directory.PasskeyKey(pk.Credential.ID)); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("index entry left behind: %v", err)
	}
}
