package webhooks_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"authrim/actors/keymanager"
	"authrim/audit"
	"authrim/examples/webhookreceiver"
	"authrim/persistence"
	"authrim/persistence/bbolt"
	"authrim/webhooks"
)

func service(t *testing.T) (*webhooks.Service, *bbolt.Store) {
	t.Helper()
	s, err := bbolt.Open(t.TempDir(), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	kek, err := keymanager.NewKEK(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return &webhooks.Service{Store: s, Sealer: kek}, s
}

// The secret is stored only sealed; our signature is what the example
// receiver (written separately from the spec) accepts, and a changed
// body, id, timestamp or secret is refused.
func TestSecretSealedAndSignatureVerifies(t *testing.T) {
	ctx := context.Background()
	svc, store := service(t)
	v, err := svc.Create(ctx, webhooks.New{URL: "https://hooks.example.com/x", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(v.Secret, "whsec_"))
	_ = store.List(ctx, persistence.BucketWebhooks, "", func(_ string, val []byte) error {
		if bytes.Contains(val, []byte(v.Secret)) || bytes.Contains(val, raw) || bytes.Contains(val, []byte(base64.StdEncoding.EncodeToString(raw))) {
			t.Error("the secret is stored in the clear")
		}
		return nil
	})
	body := []byte(`{"type":"x"}`)
	now := time.Now()
	sig, err := webhooks.Sign(v.Secret, "msg_1", now.Unix(), body)
	if err != nil {
		t.Fatal(err)
	}
	h := func(id string, ts int64, sig string) http.Header {
		hd := http.Header{}
		hd.Set("webhook-id", id)
		hd.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		hd.Set("webhook-signature", sig)
		return hd
	}
	if err := webhookreceiver.Verify(v.Secret, h("msg_1", now.Unix(), sig), body, now); err != nil {
		t.Fatalf("our signature refused: %v", err)
	}
	other, _ := svc.Create(ctx, webhooks.New{URL: "https://hooks.example.com/y", Events: []string{"*"}})
	for name, err := range map[string]error{
		"body changed":   webhookreceiver.Verify(v.Secret, h("msg_1", now.Unix(), sig), []byte(`{"type":"y"}`), now),
		"id changed":     webhookreceiver.Verify(v.Secret, h("msg_2", now.Unix(), sig), body, now),
		"time changed":   webhookreceiver.Verify(v.Secret, h("msg_1", now.Unix()+1, sig), body, now),
		"other secret":   webhookreceiver.Verify(other.Secret, h("msg_1", now.Unix(), sig), body, now),
		"replayed later": webhookreceiver.Verify(v.Secret, h("msg_1", now.Unix(), sig), body, now.Add(time.Hour)),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestEventSelection(t *testing.T) {
	sub := webhooks.Subscription{Events: []string{"sign_in_*", "grant_revoked"}}
	for typ, want := range map[string]bool{"sign_in_failed": true, "sign_in_succeeded": true, "grant_revoked": true,
		"grant_revoked_again": false, "passkey_registered": false} {
		if sub.Wants(typ) != want {
			t.Errorf("Wants(%s) = %v", typ, !want)
		}
	}
	if !(webhooks.Subscription{Events: []string{"*"}}).Wants("anything") {
		t.Error("* does not take everything")
	}
	if webhooks.MessageID("a", "e1") != webhooks.MessageID("a", "e1") || webhooks.MessageID("a", "e1") == webhooks.MessageID("b", "e1") {
		t.Error("message ids are not stable per subscription and event")
	}
	ctx := context.Background()
	svc, _ := service(t)
	for _, bad := range [][]string{nil, {""}, {"Sign In"}, {"sign*in"}, {"**"}, {strings.Repeat("a", 100)}} {
		if _, err := svc.Create(ctx, webhooks.New{URL: "https://h.example/x", Events: bad}); !errors.Is(err, webhooks.ErrInvalid) {
			t.Errorf("events %q: %v", bad, err)
		}
	}
	for _, good := range [][]string{{"*"}, {"sign_in_*"}, {"sign_in_failed", "admin_user_created"}} {
		if _, err := svc.Create(ctx, webhooks.New{URL: "https://h.example/x", Events: good}); err != nil {
			t.Errorf("events %q: %v", good, err)
		}
	}
}

// Dispatch writes one message per wanting, enabled subscription, and the
// same event twice writes nothing new.
func TestDispatch(t *testing.T) {
	ctx := context.Background()
	svc, store := service(t)
	a, _ := svc.Create(ctx, webhooks.New{URL: "https://h.example/a", Events: []string{"sign_in_*"}})
	b, _ := svc.Create(ctx, webhooks.New{URL: "https://h.example/b", Events: []string{"*"}})
	off := false
	if _, err := svc.Update(ctx, b.ID, webhooks.Patch{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	_, _ = svc.Create(ctx, webhooks.New{URL: "https://h.example/c", Events: []string{"passkey_*"}})
	ev := audit.Event{ID: "20261204T000000.000000000Z-n-00000001", Type: "sign_in_failed"}
	for range 2 {
		ids, err := svc.Dispatch(ctx, ev)
		if err != nil || len(ids) != 1 || ids[0] != webhooks.MessageID(a.ID, ev.ID) {
			t.Fatalf("Dispatch = %v, %v", ids, err)
		}
	}
	n := 0
	_ = store.List(ctx, persistence.BucketOutbox, "", func(string, []byte) error { n++; return nil })
	if n != 1 {
		t.Fatalf("%d outbox messages, want 1", n)
	}
}

func FuzzCreateEvents(f *testing.F) {
	f.Add("sign_in_*")
	f.Add("*")
	f.Add("a*b")
	svc := &webhooks.Service{}
	f.Fuzz(func(t *testing.T, ev string) {
		// Only validation runs: no store (a valid input stops at the
		// URL check, which this URL fails).
		_, err := svc.Create(context.Background(), webhooks.New{URL: "http://x", Events: []string{ev}})
		if err == nil {
			t.Fatal("accepted")
		}
	})
}
