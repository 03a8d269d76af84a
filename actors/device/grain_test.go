package device_test

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	pc "github.com/asynkron/protoactor-go/cluster"

	"authrim/actors/device"
	"authrim/actors/messages"
	"authrim/cluster"
	"authrim/persistence"
	"authrim/persistence/bbolt"
)

// startDevices is a one-member actor cluster running Device grains on a
// bbolt store in a temporary directory.
func startDevices(t *testing.T) (cluster.Devices, *bbolt.Store) {
	t.Helper()
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	kind := device.NewKind(device.Config{Store: store, Logger: logger})
	n, err := cluster.Start(cluster.Config{Name: "devicetest", Listen: "127.0.0.1:0", RequestTimeout: 5 * time.Second,
		Kinds: []*pc.Kind{kind}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown(); store.Close() })
	return n.Devices(), store
}

func newDevice(t *testing.T, d cluster.Devices, expires time.Time) (id, secret string) {
	t.Helper()
	id, secret = "dev-"+device.NewUserCode(), "secret-"+device.NewUserCode()
	err := d.Create(t.Context(), id, &messages.DeviceState{SecretHash: device.Hash(secret), ClientId: "tv",
		Scopes: []string{"openid"}, UserCode: device.NewUserCode(), ExpiresMs: expires.UnixMilli(), IntervalMs: 5000})
	if err != nil {
		t.Fatal(err)
	}
	return id, secret
}

// TestDeviceDecidedOnce: of many concurrent decisions on one device
// authorization exactly one stands, in the grain (RFC 8628 §5.4), and
// what it recorded is what a poll finds.
func TestDeviceDecidedOnce(t *testing.T) {
	d, _ := startDevices(t)
	id, secret := newDevice(t, d, time.Now().Add(time.Minute))
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = d.Decide(t.Context(), id, &messages.DecideDevice{Approve: i%2 == 0, Sid: "sid-" + string(rune('a'+i)), Subject: "sub"})
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("decisions %d and %d both stood", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, messages.ErrInvalid):
			t.Fatalf("decision %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no decision stood")
	}
	r, err := d.Poll(t.Context(), id, &messages.PollDevice{Secret: secret, ClientId: "tv"})
	if err != nil {
		t.Fatal(err)
	}
	want := messages.DevicePoll_POLL_DENIED
	if won%2 == 0 {
		want = messages.DevicePoll_POLL_APPROVED
	}
	if r.Poll != want || r.State.Sid != "sid-"+string(rune('a'+won)) {
		t.Fatalf("poll found %v in %q, want %v in the winner's session", r.Poll, r.State.Sid, want)
	}
}

// TestDeviceGrainRules: create refuses an existing id; polls need the
// secret and the client; the first approved poll uses the code; an unknown id is
// answered without a record being written.
func TestDeviceGrainRules(t *testing.T) {
	d, store := startDevices(t)
	ctx := t.Context()
	id, secret := newDevice(t, d, time.Now().Add(time.Minute))
	if err := d.Create(ctx, id, &messages.DeviceState{SecretHash: device.Hash("x"), ClientId: "evil", ExpiresMs: time.Now().Add(time.Hour).UnixMilli()}); !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("second create: %v", err)
	}
	for _, tc := range []struct {
		name           string
		secret, client string
	}{{"wrong secret", "nope", "tv"}, {"other client", secret, "other"}} {
		if _, err := d.Poll(ctx, id, &messages.PollDevice{Secret: tc.secret, ClientId: tc.client}); !errors.Is(err, messages.ErrInvalid) {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	if _, err := d.Decide(ctx, id, &messages.DecideDevice{Approve: true, Sid: "s", Subject: "u"}); err != nil {
		t.Fatal(err)
	}
	// The first poll after approval claims the redemption; every later
	// one, even from the right client with the secret, is refused.
	if r, err := d.Poll(ctx, id, &messages.PollDevice{Secret: secret, ClientId: "tv"}); err != nil || r.Poll != messages.DevicePoll_POLL_APPROVED || r.State.GetSid() != "s" {
		t.Fatalf("poll after approval: %v %v", r, err)
	}
	if _, err := d.Poll(ctx, id, &messages.PollDevice{Secret: secret, ClientId: "tv"}); !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("poll after redemption: %v", err)
	}
	if _, err := d.Poll(ctx, "unknown-id", &messages.PollDevice{Secret: "s", ClientId: "tv"}); !errors.Is(err, messages.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := store.Get(ctx, device.Bucket, "unknown-id"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("a poll of an unknown id wrote a record: %v", err)
	}
}

// TestDeviceUserCodeIndex: Reserve gives distinct codes that Lookup
// finds until their expiry; Sweep removes expired entries and device
// records an hour past their expiry, nothing else.
func TestDeviceUserCodeIndex(t *testing.T) {
	d, store := startDevices(t)
	ctx := t.Context()
	now := time.Now()
	codes := map[string]string{}
	for i := range 50 {
		id := "id-" + string(rune('A'+i))
		code, err := device.Reserve(ctx, store, id, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := codes[code]; dup {
			t.Fatalf("code %s reserved twice", code)
		}
		codes[code] = id
		if err := store.Create(ctx, device.IndexBucket, code, []byte(`{}`)); !errors.Is(err, persistence.ErrConflict) {
			t.Fatalf("a reserved code was created again: %v", err)
		}
	}
	for code, id := range codes {
		if got, err := device.Lookup(ctx, store, code, now); err != nil || got != id {
			t.Fatalf("Lookup(%s) = %q, %v; want %q", code, got, err, id)
		}
		if _, err := device.Lookup(ctx, store, code, now.Add(time.Minute)); !errors.Is(err, persistence.ErrNotFound) {
			t.Fatalf("expired code found: %v", err)
		}
		break
	}
	newDevice(t, d, now.Add(time.Minute))
	if n, err := device.Sweep(ctx, store, now.Add(30*time.Second)); err != nil || n != 0 {
		t.Fatalf("sweep before expiry removed %d, %v", n, err)
	}
	if n, err := device.Sweep(ctx, store, now.Add(2*time.Minute)); err != nil || n != 50 {
		t.Fatalf("sweep after the codes' expiry removed %d, %v; want the 50 codes", n, err)
	}
	if n, err := device.Sweep(ctx, store, now.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("sweep an hour later removed %d, %v; want the device record", n, err)
	}
}
