package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"authrim/actors/delivery"
	"authrim/audit"
	"authrim/directory"
	"authrim/persistence"
)

// Kind is the outbox kind of webhook messages.
const Kind = "webhook"

// Buckets (declared in persistence/schema.go).
const (
	Bucket           = persistence.BucketWebhooks
	DeliveriesBucket = persistence.BucketWebhookDeliveries
)

// Limits of a subscription.
const (
	MaxEvents       = 64
	MaxDescription  = 200
	secretLen       = 32
	SecretPrefix    = "whsec_"
	keepAttempts    = 50
	DefaultDisable  = 50
	MaxSubscription = 100
)

// Errors. ErrInvalid wraps what a caller sent wrong.
var (
	ErrNotFound = errors.New("webhooks: no such subscription")
	ErrInvalid  = errors.New("webhooks: invalid")
	ErrTooMany  = errors.New("webhooks: too many subscriptions")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Subscription is a stored subscription.
type Subscription struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description,omitempty"`
	Enabled     bool     `json:"enabled"`
	// SealedSecret is the signing secret sealed under the KEK (kid
	// "webhook:" + ID).
	SealedSecret []byte `json:"sealed_secret"`
	// Failures counts failed attempts in a row.
	Failures       int       `json:"failures"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	Created        time.Time `json:"created"`
	Updated        time.Time `json:"updated"`
}

// View is what the admin API shows of a subscription; Secret only
// right after creation or rotation.
type View struct {
	ID             string    `json:"id"`
	URL            string    `json:"url"`
	Events         []string  `json:"events"`
	Description    string    `json:"description,omitempty"`
	Enabled        bool      `json:"enabled"`
	Failures       int       `json:"failures"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	Created        time.Time `json:"created"`
	Updated        time.Time `json:"updated"`
	Secret         string    `json:"secret,omitempty"`
}

func (s Subscription) view() View {
	return View{ID: s.ID, URL: s.URL, Events: s.Events, Description: s.Description, Enabled: s.Enabled,
		Failures: s.Failures, DisabledReason: s.DisabledReason, Created: s.Created, Updated: s.Updated}
}

// Wants reports whether the subscription takes events of type t.
func (s Subscription) Wants(t string) bool {
	for _, e := range s.Events {
		if e == "*" || e == t {
			return true
		}
		if p, ok := strings.CutSuffix(e, "*"); ok && strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// Attempt is one recorded delivery attempt.
type Attempt struct {
	MessageID string    `json:"message_id"`
	EventID   string    `json:"event_id"`
	EventType string    `json:"event_type"`
	Attempt   int       `json:"attempt"`
	At        time.Time `json:"at"`
	Status    int       `json:"status,omitempty"`
	Error     string    `json:"error,omitempty"`
	OK        bool      `json:"ok"`
}

// New is a subscription to create.
type New struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description,omitempty"`
}

// Patch changes a subscription; nil fields stay.
type Patch struct {
	URL         *string   `json:"url,omitempty"`
	Events      *[]string `json:"events,omitempty"`
	Description *string   `json:"description,omitempty"`
	// Enabled true enables it again (and resets the failure count).
	Enabled *bool `json:"enabled,omitempty"`
}

// Sealer seals secrets under the KEK (directory.Sealer).
type Sealer = directory.Sealer

// Service keeps subscriptions, dispatches events and delivers them.
type Service struct {
	Store  persistence.Backend
	Sealer Sealer
	// AllowPrivate lets URLs name private addresses
	// (requests.fetch.allow_private_addresses).
	AllowPrivate bool
	// DisableAfter failed attempts in a row disable a subscription.
	DisableAfter int
	// Post sends a request through the SSRF-safe fetcher.
	Post   func(ctx context.Context, url, contentType string, body []byte, h http.Header) (int, error)
	Now    func() time.Time
	Logger *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Service) disableAfter() int {
	if s.DisableAfter <= 0 {
		return DefaultDisable
	}
	return s.DisableAfter
}

func kid(id string) string { return "webhook:" + id }

func checkEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, invalid("events: name at least one event type (or * for all)")
	}
	if len(events) > MaxEvents {
		return nil, invalid("events: at most %d", MaxEvents)
	}
	out := make([]string, 0, len(events))
	for _, e := range events {
		e = strings.TrimSpace(e)
		body := strings.TrimSuffix(e, "*")
		if e == "" || len(e) > 81 || !typeLike(body) {
			return nil, invalid("events: %q is not an event type (lower case words joined by _), a prefix ending in *, or *", clip(e))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// typeLike reports whether s is an event type or a prefix of one: lower
// case letters and digits in words joined by _ (audit.TypeOf's output),
// possibly ending in _ ("" for the * that takes everything).
func typeLike(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case r == '_' && i > 0 && s[i-1] != '_':
		default:
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func (s *Service) checkURL(u string) error {
	if msg := directory.CallbackURLProblem(u, s.AllowPrivate); msg != "" {
		return invalid("url: %s", msg)
	}
	return nil
}

func newSecret() ([]byte, string) {
	b := make([]byte, secretLen)
	_, _ = rand.Read(b)
	return b, SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "wh_" + base64.RawURLEncoding.EncodeToString(b)
}

// Create stores a new subscription and returns it with its secret (the
// only time it is shown, with RotateSecret).
func (s *Service) Create(ctx context.Context, in New) (View, error) {
	events, err := checkEvents(in.Events)
	if err != nil {
		return View{}, err
	}
	if err := s.checkURL(in.URL); err != nil {
		return View{}, err
	}
	if len(in.Description) > MaxDescription {
		return View{}, invalid("description: at most %d bytes", MaxDescription)
	}
	all, err := s.list(ctx)
	if err != nil {
		return View{}, err
	}
	if len(all) >= MaxSubscription {
		return View{}, ErrTooMany
	}
	id := newID()
	raw, secret := newSecret()
	sealed, err := s.Sealer.Wrap(kid(id), raw)
	if err != nil {
		return View{}, err
	}
	now := s.now().UTC()
	sub := Subscription{ID: id, URL: in.URL, Events: events, Description: in.Description, Enabled: true,
		SealedSecret: sealed, Created: now, Updated: now}
	b, _ := json.Marshal(sub)
	if err := s.Store.Create(ctx, Bucket, id, b); err != nil {
		return View{}, err
	}
	v := sub.view()
	v.Secret = secret
	return v, nil
}

func (s *Service) get(ctx context.Context, id string) (Subscription, error) {
	if id == "" || len(id) > 64 {
		return Subscription{}, ErrNotFound
	}
	b, err := s.Store.Get(ctx, Bucket, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return Subscription{}, ErrNotFound
	}
	if err != nil {
		return Subscription{}, err
	}
	var sub Subscription
	if err := json.Unmarshal(b, &sub); err != nil {
		return Subscription{}, fmt.Errorf("webhooks: stored subscription %s: %w", id, err)
	}
	return sub, nil
}

// Get returns a subscription.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	sub, err := s.get(ctx, id)
	return sub.view(), err
}

func (s *Service) list(ctx context.Context) ([]Subscription, error) {
	var out []Subscription
	err := s.Store.List(ctx, Bucket, "", func(_ string, v []byte) error {
		var sub Subscription
		if json.Unmarshal(v, &sub) == nil {
			out = append(out, sub)
		}
		return nil
	})
	return out, err
}

// List returns every subscription.
func (s *Service) List(ctx context.Context) ([]View, error) {
	subs, err := s.list(ctx)
	out := make([]View, len(subs))
	for i, sub := range subs {
		out[i] = sub.view()
	}
	return out, err
}

// edit is an atomic read-modify-write of a subscription; fn returns
// false when nothing changes.
func (s *Service) edit(ctx context.Context, id string, fn func(*Subscription) (bool, error)) (Subscription, error) {
	if _, err := s.get(ctx, id); err != nil {
		return Subscription{}, err
	}
	var out Subscription
	err := s.Store.Update(ctx, Bucket, id, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, ErrNotFound
		}
		var sub Subscription
		if err := json.Unmarshal(old, &sub); err != nil {
			return nil, err
		}
		changed, err := fn(&sub)
		if err != nil {
			return nil, err
		}
		out = sub
		if !changed {
			return old, nil
		}
		sub.Updated = s.now().UTC()
		out = sub
		return json.Marshal(sub)
	})
	return out, err
}

// Update applies p.
func (s *Service) Update(ctx context.Context, id string, p Patch) (View, error) {
	var events []string
	if p.Events != nil {
		var err error
		if events, err = checkEvents(*p.Events); err != nil {
			return View{}, err
		}
	}
	if p.URL != nil {
		if err := s.checkURL(*p.URL); err != nil {
			return View{}, err
		}
	}
	if p.Description != nil && len(*p.Description) > MaxDescription {
		return View{}, invalid("description: at most %d bytes", MaxDescription)
	}
	if p.URL == nil && p.Events == nil && p.Description == nil && p.Enabled == nil {
		return View{}, invalid("nothing to change")
	}
	sub, err := s.edit(ctx, id, func(sub *Subscription) (bool, error) {
		if p.URL != nil {
			sub.URL = *p.URL
		}
		if p.Events != nil {
			sub.Events = events
		}
		if p.Description != nil {
			sub.Description = *p.Description
		}
		if p.Enabled != nil {
			sub.Enabled = *p.Enabled
			if sub.Enabled {
				sub.Failures, sub.DisabledReason = 0, ""
			} else {
				sub.DisabledReason = "disabled by an operator"
			}
		}
		return true, nil
	})
	return sub.view(), err
}

// RotateSecret replaces the signing secret and returns the new one.
func (s *Service) RotateSecret(ctx context.Context, id string) (View, error) {
	raw, secret := newSecret()
	sealed, err := s.Sealer.Wrap(kid(id), raw)
	if err != nil {
		return View{}, err
	}
	sub, err := s.edit(ctx, id, func(sub *Subscription) (bool, error) {
		sub.SealedSecret = sealed
		return true, nil
	})
	if err != nil {
		return View{}, err
	}
	v := sub.view()
	v.Secret = secret
	return v, nil
}

// Delete removes a subscription and its recorded attempts; its waiting
// messages are dropped at their next attempt.
func (s *Service) Delete(ctx context.Context, id string) error {
	if _, err := s.get(ctx, id); err != nil {
		return err
	}
	if err := s.Store.Delete(ctx, Bucket, id); err != nil && !errors.Is(err, persistence.ErrNotFound) {
		return err
	}
	var keys []string
	_ = s.Store.List(ctx, DeliveriesBucket, id+"/", func(k string, _ []byte) error { keys = append(keys, k); return nil })
	for _, k := range keys {
		_ = s.Store.Delete(ctx, DeliveriesBucket, k)
	}
	return nil
}

// Attempts returns a subscription's recorded attempts, oldest first.
func (s *Service) Attempts(ctx context.Context, id string) ([]Attempt, error) {
	if _, err := s.get(ctx, id); err != nil {
		return nil, err
	}
	out := []Attempt{}
	err := s.Store.List(ctx, DeliveriesBucket, id+"/", func(_ string, v []byte) error {
		var a Attempt
		if json.Unmarshal(v, &a) == nil {
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// payload is an outbox message's payload.
type payload struct {
	Subscription string      `json:"subscription"`
	Event        audit.Event `json:"event"`
}

// MessageID is the stable id of the message carrying event eventID to
// subscription subID: the webhook-id receivers deduplicate on.
func MessageID(subID, eventID string) string {
	h := sha256.Sum256([]byte(subID + "\x00" + eventID))
	return "msg_" + base64.RawURLEncoding.EncodeToString(h[:18])
}

// Dispatch writes a message for ev to each enabled subscription that
// wants it, and returns the messages' ids (to kick the Delivery grain
// with). Writing the same event again writes nothing new.
func (s *Service) Dispatch(ctx context.Context, ev audit.Event) ([]string, error) {
	subs, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	var msgs []*delivery.Message
	now := s.now().UnixMilli()
	for _, sub := range subs {
		if !sub.Enabled || !sub.Wants(ev.Type) {
			continue
		}
		p, _ := json.Marshal(payload{Subscription: sub.ID, Event: ev})
		msgs = append(msgs, &delivery.Message{ID: MessageID(sub.ID, ev.ID), Kind: Kind, Target: sub.ID,
			Payload: p, CreatedMs: now, NextMs: now})
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	if err := delivery.Enqueue(ctx, s.Store, msgs...); err != nil {
		return nil, err
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids, nil
}

// Body is what a receiver gets (Standard Webhooks' payload shape).
type Body struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      audit.Event `json:"data"`
}

// Sign returns the webhook-signature value of body sent as message id
// at Unix time ts with secret (whsec_...).
func Sign(secret, id string, ts int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || !strings.HasPrefix(secret, SecretPrefix) {
		return "", invalid("secret: not a whsec_ secret")
	}
	return sign(key, id, ts, body), nil
}

func sign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Deliver makes one attempt (delivery.Handler).
func (s *Service) Deliver(ctx context.Context, m *delivery.Message) error {
	var p payload
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		return delivery.Permanent(fmt.Errorf("webhook message: %w", err))
	}
	sub, err := s.get(ctx, p.Subscription)
	if errors.Is(err, ErrNotFound) {
		return delivery.Permanent(errors.New("subscription deleted"))
	}
	if err != nil {
		return err
	}
	if !sub.Enabled {
		return delivery.Permanent(errors.New("subscription disabled"))
	}
	key, err := s.Sealer.Unwrap(kid(sub.ID), sub.SealedSecret)
	if err != nil {
		return delivery.Permanent(fmt.Errorf("webhook secret: %w", err))
	}
	body, _ := json.Marshal(Body{Type: p.Event.Type, Timestamp: p.Event.Time, Data: p.Event})
	ts := s.now().Unix()
	h := http.Header{}
	h.Set("webhook-id", m.ID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", sign(key, m.ID, ts, body))
	status, perr := s.Post(ctx, sub.URL, "application/json", body, h)
	ok := perr == nil && status >= 200 && status < 300
	a := Attempt{MessageID: m.ID, EventID: p.Event.ID, EventType: p.Event.Type, Attempt: m.Attempts + 1,
		At: s.now().UTC(), Status: status, OK: ok}
	if perr != nil {
		a.Error = perr.Error()
	} else if !ok {
		a.Error = fmt.Sprintf("answered %d", status)
	}
	s.record(ctx, sub.ID, a)
	if ok {
		if sub.Failures > 0 {
			_, _ = s.edit(ctx, sub.ID, func(sub *Subscription) (bool, error) {
				changed := sub.Failures != 0
				sub.Failures = 0
				return changed, nil
			})
		}
		return nil
	}
	disabled := false
	_, _ = s.edit(ctx, sub.ID, func(sub *Subscription) (bool, error) {
		sub.Failures++
		disabled = false
		if sub.Enabled && sub.Failures >= s.disableAfter() {
			sub.Enabled, disabled = false, true
			sub.DisabledReason = fmt.Sprintf("%d failed attempts in a row", sub.Failures)
		}
		return true, nil
	})
	if disabled {
		if s.Logger != nil {
			s.Logger.Warn("webhook disabled", "audit", true, "webhook", sub.ID, "url", sub.URL, "failures", s.disableAfter(), "last_error", a.Error)
		}
		return delivery.Permanent(errors.New("subscription disabled after failures in a row: " + a.Error))
	}
	return errors.New(a.Error)
}

// record keeps the attempt and drops the oldest beyond keepAttempts.
func (s *Service) record(ctx context.Context, subID string, a Attempt) {
	b, _ := json.Marshal(a)
	key := fmt.Sprintf("%s/%s-%s-%04d", subID, a.At.Format("20060102T150405.000000000Z"), a.MessageID, a.Attempt)
	if err := s.Store.Put(ctx, DeliveriesBucket, key, b); err != nil {
		return
	}
	var keys []string
	_ = s.Store.List(ctx, DeliveriesBucket, subID+"/", func(k string, _ []byte) error { keys = append(keys, k); return nil })
	for i := 0; i < len(keys)-keepAttempts; i++ {
		_ = s.Store.Delete(ctx, DeliveriesBucket, keys[i])
	}
}
