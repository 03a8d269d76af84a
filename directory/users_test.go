package directory_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"authrim/actors/messages"
	"authrim/directory"
	"authrim/persistence"
	"authrim/persistence/bbolt"
)

// fast are the smallest argon2id parameters New accepts; tests would
// otherwise spend seconds per hash.
var fast = directory.Options{Argon2Time: 1, Argon2MemoryKiB: 8 * 1024, Argon2Threads: 1}

func openStore(t *testing.T, dir string) *bbolt.Store {
	t.Helper()
	s, err := bbolt.Open(dir, bbolt.Options{})
	if err != nil {
		t.Fatalf("bbolt.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newDirectory(t *testing.T, opts directory.Options) (*directory.Directory, *bbolt.Store) {
	t.Helper()
	s := openStore(t, t.TempDir())
	d, err := directory.New(s, opts)
	if err != nil {
		t.Fatalf("directory.New: %v", err)
	}
	return d, s
}

func mustCreateUser(t *testing.T, d *directory.Directory, in directory.NewUser) directory.User {
	t.Helper()
	u, err := d.CreateUser(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", in.Username, err)
	}
	return u
}

func TestUserLifecycle(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t, fast)

	alice := mustCreateUser(t, d, directory.NewUser{
		Username: "Alice",
		Password: "correct horse battery",
		Claims: map[string]any{
			"name":           "Alice Liddell",
			"email":          "alice@example.com",
			"email_verified": true,
			"address":        map[string]any{"locality": "Oxford", "country": "UK"},
		},
	})
	if alice.Subject == "" || alice.Subject == "Alice" || len(alice.Subject) != 22 {
		t.Errorf("subject %q: want 22 random base64url characters", alice.Subject)
	}
	if alice.Username != "Alice" {
		t.Errorf("username %q: case must be preserved", alice.Username)
	}
	if alice.Created.IsZero() || !alice.Created.Equal(alice.Updated) {
		t.Errorf("created %v / updated %v", alice.Created, alice.Updated)
	}
	bob := mustCreateUser(t, d, directory.NewUser{Username: "bob", Password: "hunter2hunter2"})
	carol := mustCreateUser(t, d, directory.NewUser{Username: "Carol", Password: "her own secret"})

	for _, tc := range []struct {
		name string
		get  func() (directory.User, error)
		want string
	}{
		{"by subject", func() (directory.User, error) { return d.User(ctx, alice.Subject) }, alice.Subject},
		{"by username", func() (directory.User, error) { return d.UserByUsername(ctx, "Alice") }, alice.Subject},
		{"by username, other case", func() (directory.User, error) { return d.UserByUsername(ctx, "aLiCe") }, alice.Subject},
		{"find by subject", func() (directory.User, error) { return d.FindUser(ctx, bob.Subject) }, bob.Subject},
		{"find by username", func() (directory.User, error) { return d.FindUser(ctx, "CAROL") }, carol.Subject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := tc.get()
			if err != nil {
				t.Fatal(err)
			}
			if u.Subject != tc.want {
				t.Errorf("got subject %q, want %q", u.Subject, tc.want)
			}
		})
	}

	got, err := d.User(ctx, alice.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if got.Claims["email_verified"] != true || got.Claims["address"].(map[string]any)["locality"] != "Oxford" {
		t.Errorf("claims did not round-trip: %#v", got.Claims)
	}

	list, err := d.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range list {
		names = append(names, u.Username)
	}
	if strings.Join(names, ",") != "Alice,bob,Carol" {
		t.Errorf("ListUsers order %v, want Alice,bob,Carol (by username, without case)", names)
	}

	if err := d.DeleteUser(ctx, "ALICE"); err != nil {
		t.Fatalf("DeleteUser by username: %v", err)
	}
	if err := d.DeleteUser(ctx, bob.Subject); err != nil {
		t.Fatalf("DeleteUser by subject: %v", err)
	}
	for _, ref := range []string{"alice", alice.Subject, "bob", bob.Subject, "nobody", ""} {
		if err := d.DeleteUser(ctx, ref); !errors.Is(err, directory.ErrNotFound) || !errors.Is(err, persistence.ErrNotFound) {
			t.Errorf("DeleteUser(%q) again = %v, want ErrNotFound (matching persistence.ErrNotFound)", ref, err)
		}
		if _, err := d.FindUser(ctx, ref); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("FindUser(%q) after delete = %v, want ErrNotFound", ref, err)
		}
	}
	// The name is free again; the subject is not reused.
	again := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "another password"})
	if again.Subject == alice.Subject {
		t.Error("a deleted user's subject was handed out again")
	}
	list, _ = d.ListUsers(ctx)
	if len(list) != 2 {
		t.Errorf("%d users left, want 2", len(list))
	}
}

func TestCreateUserRefusesTakenUsername(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t, fast)
	first := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "first of two users"})

	for _, tc := range []struct{ name, username string }{
		{"same", "alice"},
		{"upper case", "ALICE"},
		{"mixed case", "aLice"},
		{"full-width letters", "ａｌｉｃｅ"},
		{"another user's subject", first.Subject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.CreateUser(ctx, directory.NewUser{Username: tc.username, Password: "second of two users"})
			if !errors.Is(err, directory.ErrUsernameTaken) || !errors.Is(err, directory.ErrConflict) || !errors.Is(err, persistence.ErrConflict) {
				t.Fatalf("got %v, want ErrUsernameTaken (matching ErrConflict and persistence.ErrConflict)", err)
			}
			if strings.Contains(err.Error(), "second of two users") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
	list, _ := d.ListUsers(ctx)
	if len(list) != 1 {
		t.Errorf("%d users, want 1", len(list))
	}
}

func TestConcurrentCreatesOfOneUsername(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t, fast)
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Case variants race too: they are the same name.
			name := "racer"
			if i%2 == 1 {
				name = "RACER"
			}
			_, errs[i] = d.CreateUser(ctx, directory.NewUser{Username: name, Password: "one who races"})
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, directory.ErrUsernameTaken):
		default:
			t.Errorf("create %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d creates succeeded, want exactly 1", won)
	}
	list, err := d.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d user records, want 1 (losers must not leave records)", len(list))
	}
	if u, err := d.UserByUsername(ctx, "racer"); err != nil || u.Subject != list[0].Subject {
		t.Errorf("index points to %q (%v), record is %q", u.Subject, err, list[0].Subject)
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t, fast)
	alice := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "correct horse"})

	for _, tc := range []struct {
		name, username, password string
		ok                       bool
	}{
		{"right", "alice", "correct horse", true},
		{"right, username in other case", "Alice", "correct horse", true},
		{"wrong password", "alice", "correct horsE", false},
		{"empty password", "alice", "", false},
		{"overlong password", "alice", strings.Repeat("x", directory.MaxPasswordLen+1), false},
		{"unknown user", "mallory", "correct horse", false},
		{"invalid username", "al ice", "correct horse", false},
		{"empty username", "", "correct horse", false},
		{"subject is not a username", alice.Subject, "correct horse", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := d.Authenticate(ctx, tc.username, tc.password)
			if tc.ok {
				if err != nil || u.Subject != alice.Subject {
					t.Fatalf("got %q, %v; want alice", u.Subject, err)
				}
				return
			}
			if err != directory.ErrInvalidCredentials {
				t.Fatalf("got %v, want exactly ErrInvalidCredentials (one answer for unknown user and wrong password)", err)
			}
			if u.Subject != "" {
				t.Errorf("returned a user on failure")
			}
		})
	}
}

var phcRe = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestPasswordHashFormatAndStoredParameters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	old, err := directory.New(s, fast)
	if err != nil {
		t.Fatal(err)
	}
	u := mustCreateUser(t, old, directory.NewUser{Username: "alice", Password: "password-1"})
	m := phcRe.FindStringSubmatch(u.PasswordHash)
	if m == nil {
		t.Fatalf("hash %q is not an argon2id PHC string", u.PasswordHash)
	}
	if m[1] != "8192" || m[2] != "1" || m[3] != "1" {
		t.Errorf("hash params m=%s,t=%s,p=%s, want the Options (8192,1,1)", m[1], m[2], m[3])
	}
	if u2 := mustCreateUser(t, old, directory.NewUser{Username: "bob", Password: "password-1"}); u2.PasswordHash == u.PasswordHash {
		t.Error("same password gave the same hash: salt missing")
	}

	// A directory with other parameters still verifies the old hash (it
	// reads m, t, p from the hash) and uses its own for new ones.
	current, err := directory.New(s, directory.Options{Argon2Time: 2, Argon2MemoryKiB: 9 * 1024, Argon2Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := current.Authenticate(ctx, "alice", "password-1"); err != nil {
		t.Fatalf("old hash under new parameters: %v", err)
	}
	if _, err := current.Authenticate(ctx, "alice", "password-2"); err != directory.ErrInvalidCredentials {
		t.Fatalf("wrong password under new parameters: %v", err)
	}
	nu := mustCreateUser(t, current, directory.NewUser{Username: "carol", Password: "password-3"})
	if m := phcRe.FindStringSubmatch(nu.PasswordHash); m == nil || m[1] != "9216" || m[2] != "2" || m[3] != "2" {
		t.Errorf("new hash %q does not use the new parameters", nu.PasswordHash)
	}
}

func TestCreateUserValidation(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t, fast)
	const pw = "a fine password"
	for _, tc := range []struct {
		name string
		in   directory.NewUser
		want string // part of the safe reason
	}{
		{"empty username", directory.NewUser{Password: pw}, "username"},
		{"space in username", directory.NewUser{Username: "al ice", Password: pw}, "username"},
		{"tab in username", directory.NewUser{Username: "al\tice", Password: pw}, "username"},
		{"control character", directory.NewUser{Username: "al\x00ice", Password: pw}, "username"},
		{"invalid UTF-8", directory.NewUser{Username: "al\xffice", Password: pw}, "username"},
		{"username too long", directory.NewUser{Username: strings.Repeat("a", directory.MaxUsernameLen+1), Password: pw}, "username"},
		{"password too short", directory.NewUser{Username: "alice", Password: "1234567"}, "password"},
		{"password too long", directory.NewUser{Username: "alice", Password: strings.Repeat("p", directory.MaxPasswordLen+1)}, "password"},
		{"unknown claim", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"role": "admin"}}, "unknown claim"},
		{"sub is not settable", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"sub": "x"}}, "unknown claim"},
		{"email_verified not a bool", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"email_verified": "true"}}, "boolean"},
		{"phone_number_verified not a bool", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"phone_number_verified": 1.0}}, "boolean"},
		{"name not a string", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"name": 42.0}}, "string"},
		{"empty name", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"name": ""}}, "empty"},
		{"control character in name", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"name": "a\x07b"}}, "control"},
		{"email without @", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"email": "alice.example.com"}}, "email"},
		{"email with display name", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"email": "Alice <alice@example.com>"}}, "email"},
		{"picture not a URL", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"picture": "javascript:alert(1)"}}, "picture"},
		{"birthdate shape", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"birthdate": "01/02/1990"}}, "birthdate"},
		{"birthdate not a date", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"birthdate": "1990-02-30"}}, "birthdate"},
		{"address not an object", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"address": "Oxford"}}, "address"},
		{"unknown address field", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"address": map[string]any{"city": "Oxford"}}}, "address"},
		{"address field not a string", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"address": map[string]any{"country": true}}}, "address"},
		{"groups not a list", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"groups": "admins"}}, "list"},
		{"groups entry not a string", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"groups": []any{"a", 1.0}}}, "list"},
		{"empty groups", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"groups": []any{}}}, "empty"},
		{"empty group name", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"groups": []any{""}}}, "empty"},
		{"control character in a group", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"groups": []any{"a\x00"}}}, "control"},
		{"too many groups", directory.NewUser{Username: "alice", Password: pw, Claims: map[string]any{"groups": manyGroups(257)}}, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.CreateUser(ctx, tc.in)
			if !errors.Is(err, directory.ErrInvalid) || !errors.Is(err, messages.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid (matching messages.ErrInvalid)", err)
			}
			var ie *directory.InvalidError
			if !errors.As(err, &ie) || !strings.Contains(ie.Reason, tc.want) {
				t.Errorf("reason %q should mention %q", ie.Reason, tc.want)
			}
			if tc.in.Password != "" && strings.Contains(err.Error(), tc.in.Password) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
	if list, _ := d.ListUsers(ctx); len(list) != 0 {
		t.Errorf("%d users stored after invalid creates", len(list))
	}

	valid := map[string]any{
		"name": "A", "given_name": "A", "family_name": "L", "middle_name": "M", "nickname": "al",
		"preferred_username": "al", "profile": "https://example.com/al", "picture": "https://example.com/al.png",
		"website": "http://example.com", "email": "al@example.com", "email_verified": false, "gender": "female",
		"birthdate": "0000-02-29", "zoneinfo": "Europe/London", "locale": "en-GB", "phone_number": "+44 1865 270000",
		"phone_number_verified": true, "groups": []string{"staff", "admins", "staff"},
		"address": map[string]any{"formatted": "1 High St\nOxford", "street_address": "1 High St", "locality": "Oxford",
			"region": "Oxon", "postal_code": "OX1", "country": "UK"},
	}
	al, err := d.CreateUser(ctx, directory.NewUser{Username: "al", Password: pw, Claims: valid})
	if err != nil {
		t.Fatalf("every standard claim: %v", err)
	}
	// A list reads back as JSON's, duplicates dropped, in order.
	if g, _ := al.Claims["groups"].([]any); len(g) != 2 || g[0] != "staff" || g[1] != "admins" {
		t.Fatalf("groups %#v", al.Claims["groups"])
	}
}

func manyGroups(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("g%d", i)
	}
	return out
}

// The password, client secrets (given and generated) and nothing derived
// from them in clear may reach the database file.
func TestSecretsNeverStoredInClear(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := bbolt.Open(dir, bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := directory.New(s, fast)
	if err != nil {
		t.Fatal(err)
	}
	const password = "Tr0ub4dor&3-very-unique-password"
	const givenSecret = "given-client-secret-0123456789-abcdefghijkl"
	mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: password})
	if _, _, err := d.CreateClient(ctx, directory.NewClient{
		ID:     "given",
		Secret: givenSecret,
		ClientMetadata: directory.ClientMetadata{
			AuthMethod: "client_secret_post",
			GrantTypes: []string{"client_credentials"},
		},
	}); err != nil {
		t.Fatal(err)
	}
	_, generated, err := d.CreateClient(ctx, directory.NewClient{
		ID: "generated",
		ClientMetadata: directory.ClientMetadata{
			AuthMethod:   "client_secret_basic",
			GrantTypes:   []string{"authorization_code"},
			RedirectURIs: []string{"https://rp.example/cb"},
		},
	})
	if err != nil || generated == "" {
		t.Fatalf("generated secret %q, %v", generated, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, value string }{
		{"password", password},
		{"given client secret", givenSecret},
		{"generated client secret", generated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if bytes.Contains(raw, []byte(tc.value)) {
				t.Errorf("%s found in %s", tc.name, s.Path())
			}
		})
	}
	// The scan means something only if the records are there.
	for _, want := range []string{"$argon2id$", "sha256:", "alice", "generated"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("%q not found in the file: the records were not written?", want)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	s := openStore(t, t.TempDir())
	good, err := directory.NewStaticClient(directory.NewClient{ID: "web", ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://rp.example/cb"}}})
	if err != nil {
		t.Fatal(err)
	}
	broken := good
	broken.RedirectURIs = nil
	for _, tc := range []struct {
		name string
		opts directory.Options
	}{
		{"time 0 with other params set", directory.Options{Argon2Time: 0, Argon2MemoryKiB: 8192, Argon2Threads: 1}},
		{"memory below 8 MiB", directory.Options{Argon2Time: 1, Argon2MemoryKiB: 1024, Argon2Threads: 1}},
		{"no threads", directory.Options{Argon2Time: 1, Argon2MemoryKiB: 8192, Argon2Threads: 0}},
		{"too many threads", directory.Options{Argon2Time: 1, Argon2MemoryKiB: 8192, Argon2Threads: 256}},
		{"static client listed twice", directory.Options{Argon2Time: 1, Argon2MemoryKiB: 8192, Argon2Threads: 1, StaticClients: []directory.Client{good, good}}},
		{"invalid static client", directory.Options{Argon2Time: 1, Argon2MemoryKiB: 8192, Argon2Threads: 1, StaticClients: []directory.Client{broken}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := directory.New(s, tc.opts); !errors.Is(err, directory.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := directory.New(nil, fast); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("nil store: %v", err)
	}
}

// A crash between claiming a username and writing the record leaves the
// name pointing nowhere; deleting the name must free it.
func TestDeleteFreesDanglingUsername(t *testing.T) {
	ctx := context.Background()
	d, s := newDirectory(t, fast)
	if err := s.Create(ctx, directory.BucketUsernames, "ghost", []byte("no-such-subject")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateUser(ctx, directory.NewUser{Username: "ghost", Password: "a spectral secret"}); !errors.Is(err, directory.ErrUsernameTaken) {
		t.Fatalf("create over a dangling name: %v", err)
	}
	if _, err := d.UserByUsername(ctx, "ghost"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("lookup of a dangling name: %v", err)
	}
	if err := d.DeleteUser(ctx, "Ghost"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	mustCreateUser(t, d, directory.NewUser{Username: "ghost", Password: "a spectral secret"})
}

// a clock for tests that move time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Disabling a user refuses their password, makes every earlier sign-in
// inactive and stamps the record; enabling them again lets them sign in
// anew but keeps the earlier sign-ins ended.
func TestDisableAndEnableUser(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	opts := fast
	opts.Now = clk.Now
	d, _ := newDirectory(t, opts)
	u := mustCreateUser(t, d, directory.NewUser{Username: "carol", Password: "a long enough password"})
	signedIn := clk.Now()
	clk.Add(time.Minute)
	active := func(at time.Time) bool {
		t.Helper()
		ok, err := d.SubjectActive(ctx, u.Subject, at)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !active(signedIn) {
		t.Fatal("an enabled user's sign-in is inactive")
	}
	disabled, err := d.SetUserDisabled(ctx, "carol", true)
	if err != nil || !disabled.Disabled || !disabled.Updated.Equal(clk.Now()) || !disabled.SessionsNotBefore.Equal(clk.Now()) {
		t.Fatalf("disable: %+v %v", disabled, err)
	}
	if _, err := d.Authenticate(ctx, "carol", "a long enough password"); !errors.Is(err, directory.ErrUserDisabled) || !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("disabled user's password: %v", err)
	}
	if _, err := d.Authenticate(ctx, "carol", "wrong password entirely"); errors.Is(err, directory.ErrUserDisabled) {
		t.Fatal("a wrong password learns that the user is disabled")
	}
	if active(signedIn) || active(clk.Now().Add(time.Minute)) {
		t.Fatal("a disabled user is active")
	}
	clk.Add(time.Minute)
	enabled, err := d.SetUserDisabled(ctx, u.Subject, false)
	if err != nil || enabled.Disabled || !enabled.Updated.Equal(clk.Now()) {
		t.Fatalf("enable: %+v %v", enabled, err)
	}
	if active(signedIn) {
		t.Fatal("enabling brought an old sign-in back")
	}
	if !active(clk.Now()) {
		t.Fatal("a sign-in after enabling is inactive")
	}
	if _, err := d.Authenticate(ctx, "carol", "a long enough password"); err != nil {
		t.Fatalf("enabled user's password: %v", err)
	}
	if _, err := d.SetUserDisabled(ctx, "nobody", true); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("disable an unknown user: %v", err)
	}
	if err := d.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if active(clk.Now()) {
		t.Fatal("a deleted user is active")
	}
}
