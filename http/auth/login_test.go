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

// TestLockoutConcurrentGuesses: guesses sent all at once cannot get past
// the lockout: at most threshold of them have their password checked,
// every one gets the same answer, and afterwards even the right password
// is refused. The lockouts are the real RateLimiter grains.
func TestLockoutConcurrentGuesses(t *testing.T) {
	const threshold = 3
	node, err := cluster.Start(cluster.Config{
		Name: "auth-lockout-test", Listen: "127.0.0.1:0", RequestTimeout: 5 * time.Second,
		Kinds: []*pc.Kind{ratelimit.NewKind(ratelimit.Config{})},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Shutdown)
	users := &slowUsers{}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := New(Config{
		Issuer: "https://op.example", CookieName: "sess", SessionTTL: time.Hour,
		Passkeys: PasskeyConfig{RPID: "op.example", RPName: "OP", Origins: []string{"https://op.example"}},
		Lockout:  LockoutPolicy{Threshold: threshold, Window: 15 * time.Minute, Duration: 10 * time.Minute},
	}, nil, users, nil, pendingSession{}, nil, node.RateLimits(), logger)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	h.Mount(e)
	sid, secret := session.NewSessionID()
	post := func(password string) *httptest.ResponseRecorder {
		f := url.Values{"rid": {"rid-1"}, "csrf": {csrfToken(secret, "rid-1")}, "username": {"Alice"}, "password": {password}}
		r := httptest.NewRequest(http.MethodPost, LoginPath, strings.NewReader(f.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(&http.Cookie{Name: "__Host-sess", Value: sid + "." + secret})
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		return w
	}

	const n = threshold + 5
	answers := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i] = post(fmt.Sprintf("guess %d", i)) })
	}
	wg.Wait()
	if got := users.checks.Load(); got > threshold {
		t.Fatalf("%d of %d concurrent guesses had their password checked, want at most %d", got, n, threshold)
	}
	for i, w := range answers {
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), msgBadCredentials) {
			t.Fatalf("guess %d: %d %s", i, w.Code, w.Body)
		}
		// Locked or wrong: the same page (the CSRF token is the same
		// form's).
		if w.Body.String() != answers[0].Body.String() {
			t.Fatalf("guess %d got another page than guess 0", i)
		}
	}
	before := users.checks.Load()
	if w := post(rightPassword); w.Code != http.StatusUnauthorized || w.Body.String() != answers[0].Body.String() {
		t.Fatalf("right password while locked: %d %s", w.Code, w.Body)
	}
	if users.checks.Load() != before {
		t.Fatal("the password of a locked username was checked")
	}
}

// TestLockoutRightPasswordResets: below the threshold the right password
// signs in, and forgets the failures.
func TestLockoutRightPasswordResets(t *testing.T) {
	const threshold = 3
	node, err := cluster.Start(cluster.Config{
		Name: "auth-lockout-reset-test", Listen: "127.0.0.1:0", RequestTimeout: 5 * time.Second,
		Kinds: []*pc.Kind{ratelimit.NewKind(ratelimit.Config{})},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Shutdown)
	users := &slowUsers{}
	h, err := New(Config{
		Issuer: "https://op.example", CookieName: "sess", SessionTTL: time.Hour,
		Passkeys: PasskeyConfig{RPID: "op.example", RPName: "OP", Origins: []string{"https://op.example"}},
		Lockout:  LockoutPolicy{Threshold: threshold, Window: 15 * time.Minute, Duration: 10 * time.Minute},
	}, nil, users, nil, pendingSession{}, nil, node.RateLimits(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	h.Mount(e)
	sid, secret := session.NewSessionID()
	post := func(password string) int {
		f := url.Values{"rid": {"rid-1"}, "csrf": {csrfToken(secret, "rid-1")}, "username": {"alice"}, "password": {password}}
		r := httptest.NewRequest(http.MethodPost, LoginPath, strings.NewReader(f.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(&http.Cookie{Name: "__Host-sess", Value: sid + "." + secret})
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		return w.Code
	}
	for round := range 3 {
		for i := range threshold - 1 {
			if code := post("wrong"); code != http.StatusUnauthorized {
				t.Fatalf("round %d, wrong %d: %d", round, i, code)
			}
		}
		// The threshold-th attempt is still checked, and succeeds.
		if code := post(rightPassword); code != http.StatusOK {
			t.Fatalf("round %d, right password: %d", round, code)
		}
	}
}
