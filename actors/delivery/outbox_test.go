package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"authrim/actors/delivery"
	"authrim/persistence/bbolt"
)

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	r := delivery.Retry{Initial: time.Second, Max: 10 * time.Second, GiveUpAfter: time.Hour}
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {50, 10 * time.Second}} {
		t.Run(fmt.Sprint(tc.failures), func(t *testing.T) {
			for range 20 {
				d := r.Backoff(tc.failures)
				if d < tc.want*8/10 || d > min(tc.want*12/10, r.Max) {
					t.Fatalf("backoff after %d failures: %v, want %v ±20%% (at most %v)", tc.failures, d, tc.want, r.Max)
				}
			}
		})
	}
}

// Enqueueing a message again (a retried grain call) leaves the stored
// one, attempts and all.
func TestEnqueueIsIdempotent(t *testing.T) {
	ctx := context.Background()
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	m := &delivery.Message{ID: "m1", Kind: "k", Payload: json.RawMessage(`{}`)}
	if err := delivery.Enqueue(ctx, store, m); err != nil {
		t.Fatal(err)
	}
	stored := &delivery.Message{ID: "m1", Kind: "k", Payload: json.RawMessage(`{}`), Attempts: 3}
	b, _ := json.Marshal(stored)
	if err := store.Put(ctx, delivery.Bucket, "m1", b); err != nil {
		t.Fatal(err)
	}
	if err := delivery.Enqueue(ctx, store, m); err != nil {
		t.Fatal(err)
	}
	got, _ := store.Get(ctx, delivery.Bucket, "m1")
	var back delivery.Message
	if json.Unmarshal(got, &back) != nil || back.Attempts != 3 {
		t.Fatalf("enqueue again replaced the stored message: %s", got)
	}
	if err := delivery.Enqueue(ctx, store, &delivery.Message{Kind: "k"}); err == nil {
		t.Fatal("a message without id was written")
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("refused")
	err := fmt.Errorf("attempt: %w", delivery.Permanent(base))
	if !delivery.IsPermanent(err) || !errors.Is(err, base) || delivery.IsPermanent(base) {
		t.Fatal("Permanent is not recognised through wrapping, or hides its cause")
	}
}
