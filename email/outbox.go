package email

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"authrim/actors/delivery"
	"authrim/persistence"
)

// Kind is the outbox message kind of mails.
const Kind = "email"

// Sealer seals payloads under the node's KEK (keymanager.KEK), bound to
// the message id.
type Sealer interface {
	Wrap(kid string, plaintext []byte) ([]byte, error)
	Unwrap(kid string, sealed []byte) ([]byte, error)
}

// payload is an email message's outbox payload: the Mail, sealed (it
// holds a secret link), with the message id as its associated data so it
// only opens as that message.
type payload struct {
	Sealed []byte `json:"sealed"`
}

// sealPrefix keeps mail seals apart from other KEK uses of the same id.
const sealPrefix = "email:"

// NewMessage makes the outbox message for m. target is what logs name
// (the user's subject: an address is personal data).
func NewMessage(sealer Sealer, m *Mail, target string, now time.Time) (*delivery.Message, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	id := "email-" + hex.EncodeToString(b[:])
	plain, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	sealed, err := sealer.Wrap(sealPrefix+id, plain)
	if err != nil {
		return nil, fmt.Errorf("email: seal: %w", err)
	}
	p, _ := json.Marshal(payload{Sealed: sealed})
	return &delivery.Message{
		ID: id, Kind: Kind, Target: target, Payload: p,
		CreatedMs: now.UnixMilli(), NextMs: now.UnixMilli(),
	}, nil
}

// Enqueue seals m into the outbox; the caller kicks the Delivery grain
// with the returned id.
func Enqueue(ctx context.Context, store persistence.Backend, sealer Sealer, m *Mail, target string, now time.Time) (string, error) {
	msg, err := NewMessage(sealer, m, target, now)
	if err != nil {
		return "", err
	}
	if err := delivery.Enqueue(ctx, store, msg); err != nil {
		return "", err
	}
	return msg.ID, nil
}

// Open returns the Mail an outbox message carries.
func Open(sealer Sealer, m *delivery.Message) (*Mail, error) {
	var p payload
	if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Sealed) == 0 {
		return nil, errors.New("email: payload does not decode")
	}
	plain, err := sealer.Unwrap(sealPrefix+m.ID, p.Sealed)
	if err != nil {
		return nil, fmt.Errorf("email: unseal: %w", err)
	}
	var mail Mail
	if err := json.Unmarshal(plain, &mail); err != nil {
		return nil, fmt.Errorf("email: sealed payload does not decode: %w", err)
	}
	return &mail, nil
}

// Handler is the outbox's Handler for Kind: it opens, renders and sends.
type Handler struct {
	Sender *Sender
	Sealer Sealer
	// Issuer is named in the mail's footer.
	Issuer string
	Now    func() time.Time
}

var _ delivery.Handler = (*Handler)(nil)

// Deliver makes one attempt. A message that does not open or render is
// given up (no later attempt would do better).
func (h *Handler) Deliver(ctx context.Context, m *delivery.Message) error {
	mail, err := Open(h.Sealer, m)
	if err != nil {
		return delivery.Permanent(err)
	}
	if mail.Discard {
		return nil
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	raw, err := mail.Render(h.Sender.From(), h.Issuer, m.ID, now())
	if err != nil {
		return delivery.Permanent(err)
	}
	return h.Sender.Send(ctx, mail.To, raw)
}
