package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint is one line of the report: how to make its requests.
type Endpoint struct {
	Name string
	// What is measured, for the report.
	What string
	// TargetCPU is the budget in µs of server CPU per request
	// (0: none).
	TargetCPU float64
	// OneTime: each call uses up a prepared item (a code, a pending
	// sign-in, a refresh token to revoke). Guess is a rate (req/s) to size
	// the warm-up's items; the window's are sized from the warm-up.
	OneTime bool
	Guess   float64
	// MaxConcurrency caps the workers for this endpoint (0: none).
	MaxConcurrency int
	// prepare returns a source with about n calls (ignored when endless).
	prepare func(ctx context.Context, n int) (Source, error)
}

// Node is a running node with everything the endpoints need seeded.
type Node struct {
	Server    *Server
	Pop       *Population
	Subjects  []string
	Usernames []string
	// Load is the measured client; prep prepares items (its own
	// connections, so the load's stay warm and few).
	Load, prep *http.Client
	conc       int
	passkey    *Passkey
	// Ranges of Pop by use.
	browser, codes, refresh, tokens, revoke span
	// codeSeq spreads minted codes over the code sessions.
	codeSeq, seq atomic.Uint64
	revokeNext   atomic.Int64
	chainOnce    sync.Once
	chain        *chain
	accessOnce   sync.Once
	access       []string
	accessErr    error
	jweOnce      sync.Once
	jweTokens    []string
	jweErr       error
	// Topology labels the results ("" is TopologyDefault).
	Topology string
	// Bases maps a role (auth, token, userinfo, management) to the node
	// that serves it, when not Server (a roles split).
	Bases map[string]string
	// Procs are the processes whose CPU and allocations a request costs
	// (nil: Server alone): every member of a cluster.
	Procs []*Server
	// cookies and refreshToks are a population signed in through HTTP
	// (a cluster's store cannot be written while stopped); when set they
	// stand in for Pop.
	cookies, refreshToks []string
}

// base is where the front end of role is driven.
func (n *Node) base(role string) string {
	if b := n.Bases[role]; b != "" {
		return b
	}
	return n.Server.Base
}

// cookie is session i's cookie.
func (n *Node) cookie(i int) string {
	if n.cookies != nil {
		return n.cookies[i%len(n.cookies)]
	}
	return n.Pop.Cookie(i)
}

// refreshToken is the first refresh token of family i.
func (n *Node) refreshToken(i int) string {
	if n.refreshToks != nil {
		return n.refreshToks[i%len(n.refreshToks)]
	}
	return n.Pop.RefreshToken(i)
}

// stored is the number of sessions in the store.
func (n *Node) stored() int {
	if n.cookies != nil {
		return len(n.cookies)
	}
	return n.Pop.N
}

func (n *Node) procs() []*Server {
	if len(n.Procs) > 0 {
		return n.Procs
	}
	return []*Server{n.Server}
}

type span struct{ from, n int }

func (s span) at(i uint64) int { return s.from + int(i%uint64(s.n)) }

func (n *Node) next() uint64 { return n.seq.Add(1) }

// chain is a set of refresh families, each used by one request at a
// time: a refresh puts the family back with its new token.
type chain struct {
	ch   chan string
	base string
}

func newChain(base string, tokens []string) *chain {
	c := &chain{ch: make(chan string, len(tokens)), base: base}
	for _, t := range tokens {
		c.ch <- t
	}
	return c
}

func (c *chain) Next() (Call, bool) {
	select {
	case tok := <-c.ch:
		return func(ctx context.Context, hc *http.Client) error { return c.refresh(ctx, hc, tok) }, true
	case <-time.After(time.Second):
		return nil, false
	}
}

func (c *chain) refresh(ctx context.Context, hc *http.Client, tok string) error {
	tr, err := Refresh(ctx, hc, c.base, ClientES256, tok)
	if err != nil {
		// A failed rotation whose answer was lost leaves the family
		// unusable; it drops out of the chain.
		return err
	}
	c.ch <- tr.RefreshToken
	return nil
}

// Endpoints lists every endpoint of the single-node table, in order.
func (n *Node) Endpoints() []Endpoint {
	b := n.Server.Base
	endless := func(f Endless) func(context.Context, int) (Source, error) {
		return func(context.Context, int) (Source, error) { return Forever(f), nil }
	}
	return []Endpoint{
		// The floor: a request through the HTTP server and the shared
		// middleware (request id, metrics, recover) that does nothing.
		{Name: "healthz", What: "GET /healthz (the HTTP stack alone: the floor of every row)",
			prepare: endless(func(uint64) Call {
				return func(ctx context.Context, c *http.Client) error {
					return get(ctx, c, b+"/healthz", http.StatusOK, nil)
				}
			})},
		{Name: "discovery", What: "GET /.well-known/openid-configuration", TargetCPU: 30,
			prepare: endless(func(uint64) Call {
				return func(ctx context.Context, c *http.Client) error {
					return get(ctx, c, b+"/.well-known/openid-configuration", http.StatusOK, nil)
				}
			})},
		{Name: "jwks", What: "GET /.well-known/jwks.json", TargetCPU: 30,
			prepare: endless(func(uint64) Call {
				return func(ctx context.Context, c *http.Client) error {
					return get(ctx, c, b+"/.well-known/jwks.json", http.StatusOK, nil)
				}
			})},
		{Name: "authorize", What: "GET /authorize prompt=none, live session: a code issued", TargetCPU: 150,
			prepare: endless(func(seq uint64) Call {
				cookie := n.cookie(n.browser.at(seq))
				return func(ctx context.Context, c *http.Client) error {
					_, err := AuthorizeSilently(ctx, c, n.base("auth"), cookie, ClientES256, seq)
					return err
				}
			})},
		// argon2id keeps a core busy per hash thread and holds its memory
		// (64 MiB by default) while it runs: more sign-ins in flight than
		// cores only queue, and multiply the memory.
		{Name: "login-password", What: "POST /login (argon2id), code issued", OneTime: true, Guess: 10, prepare: n.prepareLogins,
			MaxConcurrency: runtime.NumCPU()},
		{Name: "login-passkey", What: "POST /webauthn/login/finish (ES256 assertion)", OneTime: true, Guess: 300, prepare: n.preparePasskeys},
		{Name: "token-code-es256", What: "POST /token authorization_code, ID token ES256 + access token ES256", TargetCPU: 300,
			OneTime: true, Guess: 500, prepare: n.prepareCodes(ClientES256)},
		{Name: "token-code-rs256", What: "POST /token authorization_code, ID token RS256 + access token ES256", TargetCPU: 1400,
			OneTime: true, Guess: 150, prepare: n.prepareCodes(ClientRS256)},
		{Name: "token-refresh", What: "POST /token refresh_token (rotation), ID token ES256 + access token ES256", TargetCPU: 250,
			prepare: n.prepareRefresh},
		{Name: "token-client-credentials", What: "POST /token client_credentials, access token ES256", TargetCPU: 150,
			prepare: endless(func(uint64) Call {
				form := url.Values{"grant_type": {"client_credentials"}}
				return func(ctx context.Context, c *http.Client) error {
					return PostForm(ctx, c, n.base("token")+"/token", ClientService, form, nil)
				}
			})},
		{Name: "token-dpop", What: "POST /token client_credentials with a DPoP proof (ES256 proof verified, jti recorded in the store), bound access token ES256",
			prepare: func(context.Context, int) (Source, error) {
				f, err := n.dpopCalls()
				if err != nil {
					return nil, err
				}
				return Forever(f), nil
			}},
		{Name: "userinfo-dpop", What: "GET /userinfo with a DPoP-bound access token and a fresh proof (ES256 token and proof verified, ath checked, jti recorded, grant checked)",
			prepare: n.prepareUserinfoDPoP},
		{Name: "token-exchange", What: "POST /token token exchange (RFC 8693) of an access token (verified, grant checked), access token ES256",
			prepare: n.prepareExchange},
		{Name: "device-poll", What: "POST /token device_code, pending (authorization_pending or slow_down: one Device grain call, no write)",
			prepare: n.prepareDevicePolls},
		{Name: "userinfo", What: "GET /userinfo (ES256 access token verified, grant checked)", TargetCPU: 200, prepare: n.prepareUserinfo},
		{Name: "userinfo-jwe", What: "GET /userinfo answered as a JWE (ECDH-ES, A128CBC-HS256) to a client registered for it", prepare: n.prepareUserinfoJWE},
		{Name: "introspection", What: "POST /introspect of an access token", TargetCPU: 150, prepare: n.prepareIntrospection},
		{Name: "revocation", What: "POST /revoke of a refresh token (family ends)", OneTime: true, Guess: 800, prepare: n.prepareRevocations},
	}
}

// Names of the single-node endpoints.
func EndpointNames() []string {
	var out []string
	for _, e := range (&Node{Server: &Server{}}).Endpoints() {
		out = append(out, e.Name)
	}
	return out
}

func (n *Node) prepareLogins(ctx context.Context, count int) (Source, error) {
	calls := make([]Call, count)
	b := n.base("auth")
	err := Parallel(ctx, count, 2*n.conc, func(ctx context.Context, i int) error {
		seq := n.next()
		lp, err := OpenLoginPage(ctx, n.prep, b, ClientES256, seq)
		if err != nil {
			return err
		}
		form := url.Values{"rid": {lp.RID}, "csrf": {lp.CSRF}, "username": {n.Usernames[int(seq)%len(n.Usernames)]}, "password": {UserPassword}}
		body := form.Encode()
		calls[i] = func(ctx context.Context, c *http.Client) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, b+"/login", strings.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: CookieName, Value: lp.Cookie})
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			_, err = codeFrom(resp)
			return err
		}
		return nil
	})
	return NewOnce(calls), err
}

func (n *Node) preparePasskeys(ctx context.Context, count int) (Source, error) {
	b := n.base("auth")
	if n.passkey == nil {
		if n.Pop == nil {
			return nil, errors.New("login-passkey: needs a seeded population (one node)")
		}
		// Adding a passkey needs a sign-in of the last minutes: sign in
		// with the password (a seeded session is too old for it).
		cookie, _, err := SignIn(ctx, n.prep, b, n.Usernames[0], n.next())
		if err != nil {
			return nil, fmt.Errorf("login-passkey: sign-in to add the passkey: %w", err)
		}
		pk, err := NewPasskey(n.Server.Issuer, n.Subjects[0])
		if err != nil {
			return nil, err
		}
		if err := pk.Register(ctx, n.prep, b, cookie); err != nil {
			return nil, err
		}
		n.passkey = pk
	}
	calls := make([]Call, count)
	err := Parallel(ctx, count, 2*n.conc, func(ctx context.Context, i int) error {
		a, err := n.passkey.Begin(ctx, n.prep, b, n.next())
		if err != nil {
			return err
		}
		calls[i] = func(ctx context.Context, c *http.Client) error { return a.Finish(ctx, c, b) }
		return nil
	})
	return NewOnce(calls), err
}

func (n *Node) prepareCodes(client string) func(context.Context, int) (Source, error) {
	return func(ctx context.Context, count int) (Source, error) {
		b := n.base("token")
		calls := make([]Call, count)
		err := Parallel(ctx, count, 2*n.conc, func(ctx context.Context, i int) error {
			cookie := n.cookie(n.codes.at(n.codeSeq.Add(1)))
			code, err := AuthorizeSilently(ctx, n.prep, n.base("auth"), cookie, client, n.next())
			if err != nil {
				return err
			}
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {RedirectURI}, "code_verifier": {PKCEVerifier}}
			calls[i] = func(ctx context.Context, c *http.Client) error {
				return PostForm(ctx, c, b+"/token", client, form, nil)
			}
			return nil
		})
		return NewOnce(calls), err
	}
}

// prepareRefresh chains the refresh range's families; the chain lives as
// long as the node, so later runs rotate the tokens earlier runs left.
func (n *Node) prepareRefresh(context.Context, int) (Source, error) {
	n.chainOnce.Do(func() {
		toks := make([]string, n.refresh.n)
		for i := range toks {
			toks[i] = n.refreshToken(n.refresh.from + i)
		}
		n.chain = newChain(n.base("token"), toks)
	})
	return n.chain, nil
}

// accessTokens refreshes each family of the tokens range once and keeps
// the access tokens (10 minutes: enough for a run of the bench).
func (n *Node) accessTokens(ctx context.Context) ([]string, error) {
	n.accessOnce.Do(func() {
		n.access = make([]string, n.tokens.n)
		n.accessErr = Parallel(ctx, n.tokens.n, 2*n.conc, func(ctx context.Context, i int) error {
			tr, err := Refresh(ctx, n.prep, n.base("token"), ClientES256, n.refreshToken(n.tokens.from+i))
			n.access[i] = tr.AccessToken
			return err
		})
	})
	return n.access, n.accessErr
}

func (n *Node) prepareUserinfo(ctx context.Context, _ int) (Source, error) {
	toks, err := n.accessTokens(ctx)
	if err != nil {
		return nil, err
	}
	u := n.base("userinfo") + "/userinfo"
	return Forever(func(seq uint64) Call {
		h := http.Header{"Authorization": {"Bearer " + toks[seq%uint64(len(toks))]}}
		return func(ctx context.Context, c *http.Client) error { return get(ctx, c, u, http.StatusOK, h) }
	}), nil
}

func (n *Node) prepareExchange(ctx context.Context, _ int) (Source, error) {
	toks, err := n.accessTokens(ctx)
	if err != nil {
		return nil, err
	}
	u := n.base("token") + "/token"
	return Forever(func(seq uint64) Call {
		form := url.Values{
			"grant_type":    {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token": {toks[seq%uint64(len(toks))]}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
			"audience": {ExchangeAudience}, "scope": {"profile"},
		}
		return func(ctx context.Context, c *http.Client) error {
			return PostForm(ctx, c, u, ClientExchange, form, nil)
		}
	}), nil
}

var errInactive = errors.New("introspection: token not active")

func (n *Node) prepareIntrospection(ctx context.Context, _ int) (Source, error) {
	toks, err := n.accessTokens(ctx)
	if err != nil {
		return nil, err
	}
	u := n.base("management") + "/introspect"
	return Forever(func(seq uint64) Call {
		form := url.Values{"token": {toks[seq%uint64(len(toks))]}, "token_type_hint": {"access_token"}}
		return func(ctx context.Context, c *http.Client) error {
			var out struct {
				Active bool `json:"active"`
			}
			if err := PostForm(ctx, c, u, ClientES256, form, &out); err != nil {
				return err
			}
			if !out.Active {
				return errInactive
			}
			return nil
		}
	}), nil
}

func (n *Node) prepareRevocations(_ context.Context, count int) (Source, error) {
	start := n.revokeNext.Add(int64(count)) - int64(count)
	end := min(start+int64(count), int64(n.revoke.n))
	var calls []Call
	u := n.base("management") + "/revoke"
	for i := start; i < end; i++ {
		form := url.Values{"token": {n.refreshToken(n.revoke.from + int(i))}, "token_type_hint": {"refresh_token"}}
		calls = append(calls, func(ctx context.Context, c *http.Client) error {
			return PostForm(ctx, c, u, ClientES256, form, nil)
		})
	}
	if len(calls) == 0 {
		return nil, fmt.Errorf("revocation: the %d seeded families are used up (raise --revoke-families)", n.revoke.n)
	}
	return NewOnce(calls), nil
}

// devicePollCodes is how many pending device codes device-poll spreads
// its polls over.
const devicePollCodes = 256

// prepareDevicePolls starts device authorizations nobody approves; each
// call polls one of them at /token. Polled faster than their interval,
// most answers are slow_down: the same work as authorization_pending.
func (n *Node) prepareDevicePolls(ctx context.Context, _ int) (Source, error) {
	codes := make([]string, devicePollCodes)
	b := n.base("token")
	err := Parallel(ctx, len(codes), n.conc, func(ctx context.Context, i int) error {
		var out struct {
			DeviceCode string `json:"device_code"`
		}
		if err := PostForm(ctx, n.prep, b+"/device_authorization", ClientDevice, url.Values{"scope": {"openid"}}, &out); err != nil {
			return err
		}
		codes[i] = out.DeviceCode
		return nil
	})
	if err != nil {
		return nil, err
	}
	u := b + "/token"
	return Forever(func(seq uint64) Call {
		body := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {codes[seq%uint64(len(codes))]}}.Encode()
		return func(ctx context.Context, c *http.Client) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(ClientDevice, ClientSecret)
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || (!strings.Contains(string(raw), `"authorization_pending"`) && !strings.Contains(string(raw), `"slow_down"`)) {
				return fmt.Errorf("device-poll: %s: %.200s", resp.Status, raw)
			}
			return nil
		}
	}), nil
}
