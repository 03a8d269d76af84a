// Package backchannel tells relying parties that a user's session ended,
// server to server (OpenID Connect Back-Channel Logout 1.0): for each
// relying-party session a Session grain ended, a message goes to the
// outbox (Messages, in the grain's step), and the Delivery grain posts a
// logout token to the client's backchannel_logout_uri (Handler.Deliver),
// retrying through the guarded fetcher until the client answers 2xx.
package backchannel

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"authrim/actors/delivery"
	"authrim/actors/messages"
	"authrim/directory"
	"authrim/http/fetch"
)

const (
	// Kind is the outbox kind of logout tokens.
	Kind = "backchannel_logout"
	// Event is the logout token's event (§2.4).
	Event = "http://schemas.openid.net/event/backchannel-logout"
	// TokenType is the logout token's typ header (§2.4, RFC 8725 §3.11).
	TokenType = "logout+jwt"
	// DefaultTTL is a logout token's lifetime: each attempt signs a new
	// one (same jti), so it only has to outlive one request.
	DefaultTTL = 2 * time.Minute
)

// Payload is an outbox message's description of one logout.
type Payload struct {
	Sid      string `json:"sid"`
	ClientID string `json:"client_id"`
	Subject  string `json:"sub"`
}

// Clients reads the registration of a client (directory.Directory).
type Clients interface {
	Client(ctx context.Context, id string) (directory.Client, error)
}

// Messages returns the outbox messages for relying-party sessions of sid
// that ended: one per client that registered a backchannel_logout_uri
// (others are told by front-channel logout, if at all). The id is a hash
// of the sid, client, subject and the RP session's start, so recording
// the same ending twice is one message.
func Messages(ctx context.Context, clients Clients, sid string, ended []*messages.EndedClient, now time.Time) ([]*delivery.Message, error) {
	var out []*delivery.Message
	for _, e := range ended {
		c, err := clients.Client(ctx, e.ClientId)
		if errors.Is(err, directory.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("backchannel: read client: %w", err)
		}
		if c.BackchannelLogoutURI == "" {
			continue
		}
		p, err := json.Marshal(Payload{Sid: sid, ClientID: e.ClientId, Subject: e.Subject})
		if err != nil {
			return nil, err
		}
		h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%d", sid, e.ClientId, e.Subject, e.SinceMs))
		out = append(out, &delivery.Message{
			ID: "bcl-" + base64.RawURLEncoding.EncodeToString(h[:18]), Kind: Kind, Target: e.ClientId,
			Payload: p, CreatedMs: now.UnixMilli(), NextMs: now.UnixMilli(),
		})
	}
	return out, nil
}

// Handler delivers logout tokens.
type Handler struct {
	Issuer  string
	Clients Clients
	// Sign signs a payload as the ID tokens of alg are signed.
	Sign func(ctx context.Context, alg string, payload []byte, typ string) (string, error)
	// Post is the guarded fetcher's Post.
	Post func(ctx context.Context, rawURL, contentType string, body []byte, header http.Header) (int, error)
	Now  func() time.Time
	TTL  time.Duration
}

// Deliver makes one attempt: a logout token signed now (the message id is
// its jti), posted to the client's current backchannel_logout_uri (§2.5).
func (h *Handler) Deliver(ctx context.Context, m *delivery.Message) error {
	var p Payload
	if err := json.Unmarshal(m.Payload, &p); err != nil || p.ClientID == "" || p.Sid == "" {
		return delivery.Permanent(errors.New("malformed logout message"))
	}
	c, err := h.Clients.Client(ctx, p.ClientID)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return delivery.Permanent(errors.New("the client no longer exists"))
	case err != nil:
		return fmt.Errorf("read client: %w", err)
	case c.BackchannelLogoutURI == "":
		return delivery.Permanent(errors.New("the client no longer has a backchannel_logout_uri"))
	}
	token, err := h.Token(ctx, c, p, m.ID)
	if err != nil {
		return err
	}
	body := url.Values{"logout_token": {token}}.Encode()
	status, err := h.Post(ctx, c.BackchannelLogoutURI, "application/x-www-form-urlencoded", []byte(body), nil)
	switch {
	case errors.Is(err, fetch.ErrForbiddenAddress):
		return delivery.Permanent(err)
	case err != nil:
		return err
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusRequestTimeout || status == http.StatusTooEarly || status == http.StatusTooManyRequests || status >= 500:
		return fmt.Errorf("the client answered %d", status)
	default:
		// §2.8: 400 is the RP saying the token is not acceptable; sending
		// the same one again would change nothing.
		return delivery.Permanent(fmt.Errorf("the client refused the logout token: %d", status))
	}
}

// Token signs the logout token of p for client c (§2.4): iss, aud, iat,
// exp, jti, sub, sid, events; never a nonce; typ logout+jwt; signed with
// the client's ID token algorithm.
func (h *Handler) Token(ctx context.Context, c directory.Client, p Payload, jti string) (string, error) {
	now := h.Now()
	ttl := h.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	claims := map[string]any{
		"iss": h.Issuer, "aud": c.ID, "iat": now.Unix(), "exp": now.Add(ttl).Unix(), "jti": jti,
		"sub": p.Subject, "sid": p.Sid, "events": map[string]any{Event: map[string]any{}},
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	alg := c.IDTokenSignedResponseAlg
	if alg == "" {
		alg = directory.DefaultIDTokenAlg
	}
	return h.Sign(ctx, alg, payload, TokenType)
}
