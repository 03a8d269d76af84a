package directory

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"authrim/actors/messages"
	"authrim/persistence"
)

// Buckets this package owns, declared (with their keys and encodings) in
// persistence/schema.go.
const (
	// BucketUsers maps a subject to its User record (JSON).
	BucketUsers = persistence.BucketUsers
	// BucketUsernames maps a username's case-mapped form to its subject:
	// the uniqueness index, claimed with Backend.Create.
	BucketUsernames = persistence.BucketUsernames
	// BucketClients maps a client_id to its Client record (JSON).
	BucketClients = persistence.BucketClients
	// BucketJTIs records the jti of each private_key_jwt assertion seen,
	// until it expires (RFC 7523 §3 item 7).
	BucketJTIs = persistence.BucketJTIs
)

// sentinel is an error value with its own text that still matches the
// shared sentinel it refines, so callers that only know persistence or
// messages errors map it correctly.
type sentinel struct {
	msg    string
	parent error
}

func (s *sentinel) Error() string { return s.msg }
func (s *sentinel) Unwrap() error { return s.parent }

// Sentinel errors. Compare with errors.Is; the package wraps them with %w.
var (
	// ErrNotFound: no such user or client. It matches
	// persistence.ErrNotFound too, so the shared HTTP error table maps it
	// to 404.
	ErrNotFound error = &sentinel{"directory: not found", persistence.ErrNotFound}
	// ErrInvalid: bad input. Errors wrapping it are *InvalidError values
	// whose Reason is safe to show to the caller. It matches
	// messages.ErrInvalid, which the HTTP error table maps to 400
	// invalid_request.
	ErrInvalid error = &sentinel{"directory: invalid", messages.ErrInvalid}
	// ErrConflict: a create found the name already in use. It matches
	// persistence.ErrConflict.
	ErrConflict error = &sentinel{"directory: already exists", persistence.ErrConflict}
	// ErrUsernameTaken: another user has this username (compared
	// case-insensitively). It matches ErrConflict.
	ErrUsernameTaken error = &sentinel{"directory: username is taken", ErrConflict}
	// ErrClientIDTaken: a static or stored client has this client_id. It
	// matches ErrConflict.
	ErrClientIDTaken error = &sentinel{"directory: client_id is taken", ErrConflict}
	// ErrInvalidCredentials: unknown username, wrong password or wrong
	// client secret. Deliberately one error for all of them.
	ErrInvalidCredentials = errors.New("directory: invalid credentials")
	// ErrUserDisabled: the password was right but the user is disabled.
	// It matches ErrInvalidCredentials.
	ErrUserDisabled error = &sentinel{"directory: user disabled", ErrInvalidCredentials}
	// ErrUserPending: the password was right but the user signed up
	// and has not confirmed their address yet (User.Pending).
	ErrUserPending error = &sentinel{"directory: address not confirmed yet", ErrInvalidCredentials}
	// ErrReplay: a private_key_jwt assertion id was already used.
	ErrReplay = errors.New("directory: assertion already used")
)

// InvalidError is a validation failure. Reason is written for the operator
// or client that sent the input and never contains a password, a secret
// or a hash, so front ends may show it as is.
type InvalidError struct {
	Reason string
	// Problems are the client problems the Reason lists, field by field,
	// when the input was a client (ValidateClient); nil otherwise.
	Problems []Problem
}

func (e *InvalidError) Error() string { return "directory: invalid: " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *InvalidError) Unwrap() error { return ErrInvalid }

func invalid(format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}

// invalidAll joins several problems into one InvalidError.
func invalidAll(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return &InvalidError{Reason: strings.Join(problems, "; ")}
}

// Options configure New. Zero argon2 fields take the defaults below.
type Options struct {
	// Argon2Time, Argon2MemoryKiB and Argon2Threads are the argon2id
	// parameters for new password hashes (RFC 9106 §4). Existing hashes
	// keep the parameters they were made with: verification reads them
	// from the hash.
	Argon2Time      int
	Argon2MemoryKiB int
	Argon2Threads   int
	// StaticClients are clients from config.yaml, built with
	// NewStaticClient. They are served before stored clients and cannot be
	// deleted through the directory.
	StaticClients []Client
	// IDTokenAlgs are the algorithms the node has keys for
	// (keys.algorithms): clients may only choose one of its JWS algorithms
	// for ID tokens and userinfo, and one of its JWE algorithms (if any)
	// for request objects encrypted to the node. No JWS algorithm means
	// IDTokenSignAlgs.
	IDTokenAlgs []string
	// RequireSignedRequestObjects refuses clients that register
	// request_object_signing_alg none: the node accepts no unsigned
	// request objects (RFC 9101 §10.5).
	RequireSignedRequestObjects bool
	// AllowPrivateAddresses lets clients register a
	// backchannel_logout_uri on a private, loopback or link-local
	// address or localhost: the node's requests.fetch.allow_private_addresses,
	// the guard its deliveries go through.
	AllowPrivateAddresses bool
	// Profile is the node's security profile ("" or ProfileFAPI2): every
	// client is looked up with it (Client) and validated under it.
	Profile string
	// StaticResources are resource servers from config.yaml
	// (resources:), checked with ValidateResource. They are served before
	// stored ones and cannot be changed through the directory.
	StaticResources []ResourceMetadata
	// Issuer is the provider's issuer, which no resource identifier may
	// be (ResourceRules.Issuer).
	Issuer string
	// ClientResolver, when set, resolves client_ids that are URLs of
	// client ID metadata documents (client_metadata_documents.enabled);
	// nil: such ids are unknown clients.
	ClientResolver ClientResolver
	// Passwords is the policy new passwords must satisfy (the zero
	// value: the default).
	Passwords PasswordPolicy
	// Sealer seals users' second-factor secrets under the KEK; nil:
	// second factors cannot be enrolled or checked (ErrNoSealer).
	Sealer Sealer
	// Now is the clock (tests inject one). Defaults to time.Now.
	Now func() time.Time
}

// Defaults for zero Options fields: RFC 9106 §7.4's second recommended
// option scaled to a small node (64 MiB, 3 passes), as in node.Default.
const (
	DefaultArgon2Time      = 3
	DefaultArgon2MemoryKiB = 64 * 1024
	DefaultArgon2Threads   = 2
)

// Directory is the user and client registry. It is safe for concurrent
// use.
type Directory struct {
	store  persistence.Backend
	params argonParams
	// passwords is the policy new passwords must satisfy.
	passwords PasswordPolicy
	static    map[string]Client
	// staticResources are the resource servers from config.yaml, by
	// identifier; resourceRules check every resource.
	staticResources map[string]Resource
	resourceRules   ResourceRules
	now             func() time.Time
	// rules are the client rules of Options.IDTokenAlgs (never empty:
	// IDTokenSignAlgs without JWE algorithms when none are given) and
	// Options.RequireSignedRequestObjects.
	rules Rules
	// dummyHash is verified against when a username is unknown, so that
	// Authenticate costs one argon2id run whether or not the user exists.
	dummyHash string
	// users and clients skip re-decoding unchanged records.
	users   *decoded[User]
	clients *decoded[Client]
	// resolver resolves client_id URLs (Options.ClientResolver).
	resolver ClientResolver
	// sealer seals second-factor secrets (Options.Sealer).
	sealer Sealer
}

// New returns a Directory on store. It validates opts (argon2 parameters,
// static clients) and computes the dummy hash once, which costs one
// argon2id run.
func New(store persistence.Backend, opts Options) (*Directory, error) {
	if store == nil {
		return nil, invalid("no store")
	}
	p := argonParams{time: DefaultArgon2Time, memory: DefaultArgon2MemoryKiB, threads: DefaultArgon2Threads}
	if opts.Argon2Time != 0 || opts.Argon2MemoryKiB != 0 || opts.Argon2Threads != 0 {
		var err error
		if p, err = newParams(opts.Argon2Time, opts.Argon2MemoryKiB, opts.Argon2Threads); err != nil {
			return nil, err
		}
	}
	if err := opts.Passwords.validate(); err != nil {
		return nil, err
	}
	d := &Directory{store: store, params: p, passwords: opts.Passwords, static: map[string]Client{}, now: opts.Now,
		users: newDecoded[User](decodedMax), clients: newDecoded[Client](decodedMax), resolver: opts.ClientResolver, sealer: opts.Sealer}
	if d.now == nil {
		d.now = time.Now
	}
	d.rules = Rules{Algorithms: IDTokenSignAlgs, RequireSignedRequestObjects: opts.RequireSignedRequestObjects,
		AllowPrivateAddresses: opts.AllowPrivateAddresses, Profile: opts.Profile}
	if sign, _ := splitAlgs(opts.IDTokenAlgs); len(sign) > 0 {
		for _, a := range sign {
			if !slices.Contains(IDTokenSignAlgs, a) {
				return nil, invalid("unsupported ID token algorithm %q (supported: %s)", clip(a), strings.Join(IDTokenSignAlgs, ", "))
			}
		}
		d.rules.Algorithms = slices.Clone(opts.IDTokenAlgs)
	}
	// Static clients were built by NewStaticClient, maybe for other
	// rules: checked again under this node's. Whether they may name
	// private addresses is for the config's own validation (the
	// operator's requests.fetch.allow_private_addresses), not repeated.
	staticRules := d.rules
	staticRules.AllowPrivateAddresses = true
	for i, c := range opts.StaticClients {
		c.Static = true
		if err := invalidProblems(c.problems(staticRules)); err != nil {
			return nil, fmt.Errorf("static client %d (%q): %w", i, c.ID, err)
		}
		if _, dup := d.static[c.ID]; dup {
			return nil, invalid("static client id %q listed twice", c.ID)
		}
		d.static[c.ID] = cloneClient(c)
	}
	d.resourceRules = ResourceRules{Algorithms: d.rules.Algorithms, Issuer: opts.Issuer}
	d.staticResources = map[string]Resource{}
	for i, m := range opts.StaticResources {
		m = m.WithDefaults()
		if err := invalidProblems(ValidateResource(m, d.resourceRules)); err != nil {
			return nil, fmt.Errorf("static resource %d (%q): %w", i, clip(m.Identifier), err)
		}
		if _, dup := d.staticResources[m.Identifier]; dup {
			return nil, invalid("static resource %q listed twice", clip(m.Identifier))
		}
		d.staticResources[m.Identifier] = Resource{ResourceMetadata: m, Static: true}
	}
	var err error
	if d.dummyHash, err = dummyHash(p); err != nil {
		return nil, err
	}
	return d, nil
}

// dummyHashes holds one dummy hash per argon2id parameter set for the
// process (argonParams -> string).
var dummyHashes sync.Map

// dummyHash returns a hash, with parameters p, of a random password that
// is thrown away: nothing can match it, so an unknown user never
// authenticates, and verifying against it costs what a real hash costs.
// Any such hash serves every Directory with these parameters, so only
// the first one of a process pays the argon2id run (a node's tests start
// dozens).
func dummyHash(p argonParams) (string, error) {
	if h, ok := dummyHashes.Load(p); ok {
		return h.(string), nil
	}
	dummy, err := randomToken(32)
	if err != nil {
		return "", err
	}
	h, err := hashPassword(dummy, p)
	if err != nil {
		return "", err
	}
	got, _ := dummyHashes.LoadOrStore(p, h)
	return got.(string), nil
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	for {
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("directory: random: %w", err)
		}
		// Identifiers are typed on command lines (users delete SUB,
		// clients delete ID): one starting with '-' would read as a flag.
		if s := base64.RawURLEncoding.EncodeToString(b); s[0] != '-' {
			return s, nil
		}
	}
}

// rollbackCtx is the context for undoing a half-done write: the caller's
// context may be what was cancelled, and the undo must still run.
func rollbackCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}
