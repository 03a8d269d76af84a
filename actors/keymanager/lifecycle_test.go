package keymanager

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"authrim/actors/messages"
)

// fakeKeys makes numbered keys so a table can name them.
type fakeKeys struct{ n int }

func (f *fakeKeys) newKey(alg string, now time.Time) (*messages.Key, error) {
	f.n++
	return &messages.Key{Kid: fmt.Sprintf("k%d", f.n), Alg: alg, Use: UseSig, CreatedMs: ms(now), WrappedPrivate: []byte("sealed")}, nil
}

// summary renders the set as "alg status kid" lines, sorted.
func summary(set *messages.KeySet) string {
	var lines []string
	for _, k := range set.Keys {
		lines = append(lines, fmt.Sprintf("%s %s %s", k.Alg, k.Status, k.Kid))
	}
	sort.Strings(lines)
	return strings.Join(lines, "; ")
}

func TestLifecycle(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Policy{
		Algorithms:     []string{"RS256", "ES256"},
		RotationPeriod: 30 * 24 * time.Hour,
		PublishAhead:   24 * time.Hour,
		RetireAfter:    48 * time.Hour,
	}
	type step struct {
		name    string
		at      time.Duration // since t0
		policy  *Policy       // nil: p
		op      func(*messages.KeySet, Policy, time.Time) (bool, error)
		wantErr error
		want    string // summary after op and advance
		changed bool
	}
	noop := func(*messages.KeySet, Policy, time.Time) (bool, error) { return false, nil }
	rot := func(alg string) func(*messages.KeySet, Policy, time.Time) (bool, error) {
		return func(s *messages.KeySet, p Policy, now time.Time) (bool, error) { return rotate(s, p, alg, now) }
	}
	rev := func(kid string) func(*messages.KeySet, Policy, time.Time) (bool, error) {
		return func(s *messages.KeySet, p Policy, now time.Time) (bool, error) { return revoke(s, kid, "test", now) }
	}
	day := 24 * time.Hour
	steps := []step{
		{name: "first start makes an active and a next key per alg", at: 0, op: noop, changed: true,
			want: "ES256 active k3; ES256 next k4; RS256 active k1; RS256 next k2"},
		{name: "nothing happens before the rotation period", at: 30*day - time.Millisecond, op: noop,
			want: "ES256 active k3; ES256 next k4; RS256 active k1; RS256 next k2"},
		{name: "timer rotation promotes next and retires active", at: 30 * day, op: noop, changed: true,
			want: "ES256 active k4; ES256 next k6; ES256 retiring k3; RS256 active k2; RS256 next k5; RS256 retiring k1"},
		{name: "retiring keys stay published until retire_after", at: 32*day - time.Millisecond, op: noop,
			want: "ES256 active k4; ES256 next k6; ES256 retiring k3; RS256 active k2; RS256 next k5; RS256 retiring k1"},
		{name: "retiring keys are removed after retire_after", at: 32 * day, op: noop, changed: true,
			want: "ES256 active k4; ES256 next k6; ES256 removed k3; RS256 active k2; RS256 next k5; RS256 removed k1"},
		{name: "rotate promotes a next key published long enough at once", at: 33 * day, op: rot("RS256"), changed: true,
			want: "ES256 active k4; ES256 next k6; ES256 removed k3; RS256 active k5; RS256 next k7; RS256 removed k1; RS256 retiring k2"},
		{name: "rotate of a fresh next key waits for publish_ahead", at: 33*day + time.Hour, op: rot("RS256"), changed: true,
			want: "ES256 active k4; ES256 next k6; ES256 removed k3; RS256 active k5; RS256 next k7; RS256 removed k1; RS256 retiring k2"},
		{name: "the waiting rotation happens once publish_ahead has passed", at: 34 * day, op: noop, changed: true,
			want: "ES256 active k4; ES256 next k6; ES256 removed k3; RS256 active k7; RS256 next k8; RS256 removed k1; RS256 retiring k2; RS256 retiring k5"},
		{name: "revoking the active key promotes the published next key at once", at: 34*day + time.Hour, op: rev("k4"), changed: true,
			want: "ES256 active k6; ES256 next k9; ES256 removed k3; ES256 revoked k4; RS256 active k7; RS256 next k8; RS256 removed k1; RS256 retiring k2; RS256 retiring k5"},
		{name: "revoking a next key replaces it", at: 34*day + 2*time.Hour, op: rev("k9"), changed: true,
			want: "ES256 active k6; ES256 next k10; ES256 removed k3; ES256 revoked k4; ES256 revoked k9; RS256 active k7; RS256 next k8; RS256 removed k1; RS256 retiring k2; RS256 retiring k5"},
		{name: "revoking again is a no-op", at: 34*day + 3*time.Hour, op: rev("k9"),
			want: "ES256 active k6; ES256 next k10; ES256 removed k3; ES256 revoked k4; ES256 revoked k9; RS256 active k7; RS256 next k8; RS256 removed k1; RS256 retiring k2; RS256 retiring k5"},
		{name: "revoking an unknown kid fails", at: 34*day + 3*time.Hour, op: rev("nope"), wantErr: messages.ErrNotFound},
		{name: "rotating an unconfigured alg fails", at: 34*day + 3*time.Hour, op: rot("HS256"), wantErr: messages.ErrInvalid},
		{name: "an alg dropped from the policy winds down", at: 35 * day, policy: &Policy{Algorithms: []string{"RS256"}, RotationPeriod: p.RotationPeriod, PublishAhead: p.PublishAhead, RetireAfter: p.RetireAfter},
			op: noop, changed: true,
			want: "ES256 removed k10; ES256 removed k3; ES256 retiring k6; ES256 revoked k4; ES256 revoked k9; RS256 active k7; RS256 next k8; RS256 removed k1; RS256 removed k2; RS256 retiring k5"},
	}
	set := &messages.KeySet{}
	gen := &fakeKeys{}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			pol := p
			if s.policy != nil {
				pol = *s.policy
			}
			now := t0.Add(s.at)
			before := summary(set)
			changedOp, err := s.op(set, pol, now)
			if s.wantErr != nil {
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("err = %v, want %v", err, s.wantErr)
				}
				if summary(set) != before {
					t.Fatalf("failed op changed the set")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			changedTime, err := advance(set, pol, now, gen.newKey)
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(set); got != s.want {
				t.Fatalf("set:\n got  %s\n want %s", got, s.want)
			}
			if c := changedOp || changedTime; c != s.changed {
				t.Fatalf("changed = %v, want %v", c, s.changed)
			}
		})
	}
	// Invariants over the whole run.
	for _, k := range set.Keys {
		if !Published(k) && len(k.WrappedPrivate) != 0 {
			t.Errorf("%s is %s but still holds its private key", k.Kid, k.Status)
		}
	}
}

func TestNextKeyIsPublishedAheadOfActivation(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// A rotation period shorter than publish-ahead cannot pass config
	// validation, but the lifecycle must hold the rule on its own too.
	p := Policy{Algorithms: []string{"ES256"}, RotationPeriod: time.Hour, PublishAhead: 5 * time.Hour, RetireAfter: time.Hour}
	set := &messages.KeySet{}
	gen := &fakeKeys{}
	if _, err := advance(set, p, t0, gen.newKey); err != nil {
		t.Fatal(err)
	}
	next := find(set, "ES256", StatusNext)
	if got, want := time.UnixMilli(next.ActivateAtMs), t0.Add(5*time.Hour); !got.Equal(want) {
		t.Fatalf("next activates at %v, want not before %v", got, want)
	}
	if _, err := rotate(set, p, "", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := advance(set, p, t0.Add(time.Minute), gen.newKey); err != nil {
		t.Fatal(err)
	}
	if find(set, "ES256", StatusActive).Kid != "k1" {
		t.Fatal("rotate promoted a key that was published for less than publish_ahead")
	}
}
