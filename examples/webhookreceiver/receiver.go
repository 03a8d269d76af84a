// Package webhookreceiver is an example receiver of Authrim's webhooks,
// with nothing but the standard library: it checks each delivery's
// Standard Webhooks signature and timestamp, skips deliveries it has
// already handled (webhook-id), and answers 2xx only once an event is
// handled. The node's tests receive webhooks with it.
package webhookreceiver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Tolerance bounds how far a delivery's webhook-timestamp may be from
// the receiver's clock: an older delivery replayed by someone who
// captured it is refused.
const Tolerance = 5 * time.Minute

// Verify checks the signature of a delivery: webhook-signature holds
// one or more space-separated "v1,<base64>" values, one of which must be
// HMAC-SHA256(key, id "." timestamp "." body), where key is the secret
// after "whsec_", base64-decoded.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad webhook-timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return errors.New("webhook-timestamp too far from now")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return errors.New("bad secret")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, ok := strings.CutPrefix(s, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(v)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

// Event is what a delivery carries (its data is the audit event).
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		ID       string            `json:"id"`
		Type     string            `json:"type"`
		Subject  string            `json:"sub"`
		ClientID string            `json:"client_id"`
		Attrs    map[string]string `json:"attrs"`
	} `json:"data"`
}

// Receiver is an http.Handler that verifies deliveries and hands each
// event to Handle once, however many times it is delivered.
type Receiver struct {
	// Secret is the subscription's secret (whsec_...); change it with
	// SetSecret while the receiver serves.
	Secret string
	// Handle is called once per webhook-id; an error answers 500 (the
	// node retries).
	Handle func(id string, e Event) error

	mu   sync.Mutex
	seen map[string]bool
}

// SetSecret replaces the secret (after a rotation).
func (r *Receiver) SetSecret(s string) {
	r.mu.Lock()
	r.Secret = s
	r.mu.Unlock()
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil || req.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	secret := r.Secret
	r.mu.Unlock()
	if err := Verify(secret, req.Header, body, time.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[id] {
		w.WriteHeader(http.StatusNoContent) // a retry of what we handled
		return
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	if r.Handle != nil {
		if err := r.Handle(id, e); err != nil {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.seen[id] = true
	w.WriteHeader(http.StatusNoContent)
}
