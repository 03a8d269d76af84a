package auth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pc "github.com/asynkron/protoactor-go/cluster"
	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
	"authrim/actors/ratelimit"
	"authrim/actors/session"
	"authrim/cluster"
	"authrim/directory"
	"authrim/http/router"
)

// slowUsers is a directory that takes a while to check a password (as
// argon2id does) and counts how often it is asked.
type slowUsers struct {
	checks atomic.Int64
}

const rightPassword = "the right password"

func (u *slowUsers) Authenticate(_ context.Context, username, password string) (directory.User, error) {
	u.checks.Add(1)
	time.Sleep(30 * time.Millisecond)
	if username == "alice" && password == rightPassword {
		return directory.User{Subject: "sub-alice", Username: "alice"}, nil
	}
	return directory.User{}, directory.ErrInvalidCredentials
}

// pendingSession answers Get with a pending password sign-in, and Login
// with a new secret.
type pendingSession struct{}

func (pendingSession) Call(_ context.Context, _ string, call *messages.SessionCall) (*messages.SessionReply, error) {
	req := &messages.AuthRequest{ClientId: "rp", ClientName: "RP", RedirectUri: "https://rp.example/cb", ResponseType: "code", Scopes: []string{"openid"}}
	switch call.Op.(type) {
	case *messages.SessionCall_Get:
		return &messages.SessionReply{Rid: "rid-1", Request: req}, nil
	case *messages.SessionCall_Login:
		_, secret := session.NewSessionID()
		return &messages.SessionReply{Rid: "rid-1", Request: req, NewSecret: secret, Login: &messages.Login{Subject: "sub-alice"}}, nil
	}
	return nil, fmt.Errorf("%w: unexpected call", messages.ErrInvalid)
}

// throttleTest is the sign-in page with the real RateLimiter grains:
// three free failures per address, ten per username.
type throttleTest struct {
	users       *slowUsers
	e           *echo.Echo
	sid, secret string
}

func newThrottleTest(t *testing.T) *throttleTest {
	t.Helper()
	node, err := cluster.Start(cluster.Config{
		Name: "auth-throttle-test", Listen: "127.0.0.1:0", RequestTimeout: 5 * time.Second,
		Kinds: []*pc.Kind{ratelimit.NewKind(ratelimit.Config{})},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Shutdown)
	tt := &throttleTest{users: &slowUsers{}}
	h, err := New(Config{
		Issuer: "https://op.example", CookieName: "sess", SessionTTL: time.Hour,
		Passkeys: PasskeyConfig{RPID: "op.example", RPName: "OP", Origins: []string{"https://op.example"}},
		SignIn: SignInThrottle{
			PerAddress:  ratelimit.Backoff{Free: 3, Base: time.Minute, Max: time.Hour, Window: time.Hour},
			PerUsername: ratelimit.Backoff{Free: 10, Base: time.Minute, Max: time.Hour, Window: time.Hour},
		},
	}, nil, tt.users, nil, pendingSession{}, nil, node.RateLimits(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	tt.e = echo.New()
	tt.e.IPExtractor = echo.ExtractIPDirect()
	router.Mount(tt.e, h)
	tt.sid, tt.secret = session.NewSessionID()
	return tt
}

// post signs in as username from address ip.
func (tt *throttleTest) post(ip, username, password string) *httptest.ResponseRecorder {
	f := url.Values{"rid": {"rid-1"}, "csrf": {csrfToken(tt.secret, "rid-1")}, "username": {username}, "password": {password}}
	r := httptest.NewRequest(http.MethodPost, LoginPath, strings.NewReader(f.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = ip + ":40000"
	// Under an https issuer the cookie carries the __Host- prefix.
	r.AddCookie(&http.Cookie{Name: "__Host-sess", Value: tt.sid + "." + tt.secret})
	w := httptest.NewRecorder()
	tt.e.ServeHTTP(w, r)
	return w
}

// The typed calls of auth.Sessions, through Call.
func (p pendingSession) Get(ctx context.Context, sid, secret string, m *messages.GetSession) (*messages.SessionReply, error) {
	return p.Call(ctx, sid, &messages.SessionCall{Secret: secret, Op: &messages.SessionCall_Get{Get: m}})
}
func (p pendingSession) Login(ctx context.Context, sid, secret string, m *messages.CompleteLogin) (*messages.SessionReply, error) {
	return p.Call(ctx, sid, &messages.SessionCall{Secret: secret, Op: &messages.SessionCall_Login{Login: m}})
}
func (pendingSession) Begin(context.Context, string, string, *messages.BeginAuth) (*messages.SessionReply, error) {
	return nil, messages.ErrInvalid
}
func (pendingSession) Consent(context.Context, string, string, *messages.GiveConsent) (*messages.SessionReply, error) {
	return nil, messages.ErrInvalid
}
func (pendingSession) Issue(context.Context, string, string, *messages.IssueCode) (*messages.SessionReply, error) {
	return &messages.SessionReply{}, nil
}
func (pendingSession) Logout(context.Context, string, string) (*messages.SessionReply, error) {
	return nil, messages.ErrInvalid
}
func (pendingSession) StartCeremony(context.Context, string, string, *messages.StartCeremony) (*messages.SessionReply, error) {
	return nil, messages.ErrInvalid
}
func (pendingSession) TakeCeremony(context.Context, string, string, *messages.TakeCeremony) (*messages.SessionReply, error) {
	return nil, messages.ErrInvalid
}

// TestSignInThrottleSlowsTheGuesserNotTheOwner: guesses sent all at once
// from one address cannot get past the free failures (at most three have
// their password checked, the rest are told to wait), the right password
// from that address waits too, and the owner signing in from another
// address meanwhile gets in: there is no lock anyone can set off. The
// throttle is the real RateLimiter grains.
func TestSignInThrottleSlowsTheGuesserNotTheOwner(t *testing.T) {
	tt := newThrottleTest(t)
	const guesser, owner, free = "198.51.100.7", "203.0.113.9", 3
	const n = free + 5
	answers := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range n {
		// "Alice" and "alice" are one username to the throttle.
		wg.Go(func() { answers[i] = tt.post(guesser, "Alice", fmt.Sprintf("guess %d", i)) })
	}
	wg.Wait()
	if got := tt.users.checks.Load(); got != free {
		t.Fatalf("%d of %d concurrent guesses had their password checked, want %d", got, n, free)
	}
	wrong, slowed := 0, 0
	for i, w := range answers {
		switch {
		case w.Code == http.StatusUnauthorized && strings.Contains(w.Body.String(), msgBadCredentials):
			wrong++
		case w.Code == http.StatusTooManyRequests && strings.Contains(w.Body.String(), "Too many sign-in attempts") && w.Header().Get("Retry-After") != "":
			slowed++
		default:
			t.Fatalf("guess %d: %d %s", i, w.Code, w.Body)
		}
	}
	if wrong != free || slowed != n-free {
		t.Fatalf("%d wrong and %d slowed, want %d and %d", wrong, slowed, free, n-free)
	}
	before := tt.users.checks.Load()
	if w := tt.post(guesser, "alice", rightPassword); w.Code != http.StatusTooManyRequests {
		t.Fatalf("right password from the guessing address: %d", w.Code)
	}
	if tt.users.checks.Load() != before {
		t.Fatal("the password of a slowed attempt was checked")
	}
	if w := tt.post(owner, "alice", rightPassword); w.Code != http.StatusOK {
		t.Fatalf("the owner from another address: %d %s", w.Code, w.Body)
	}
}

// TestSignInThrottleRightPasswordResets: below the free failures the
// right password signs in, and forgets the failures.
func TestSignInThrottleRightPasswordResets(t *testing.T) {
	tt := newThrottleTest(t)
	for round := range 3 {
		for i := range 2 {
			if w := tt.post("192.0.2.1", "alice", "wrong"); w.Code != http.StatusUnauthorized {
				t.Fatalf("round %d, wrong %d: %d", round, i, w.Code)
			}
		}
		if w := tt.post("192.0.2.1", "alice", rightPassword); w.Code != http.StatusOK {
			t.Fatalf("round %d, right password: %d", round, w.Code)
		}
	}
}
