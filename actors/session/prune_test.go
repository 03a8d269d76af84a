package session

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
)

// prune with no destination only reports: it agrees with the real prune
// and changes nothing.
func TestPruneDryRunAgrees(t *testing.T) {
	now := time.Now()
	ms := now.UnixMilli()
	fresh := func() *messages.SessionState {
		return &messages.SessionState{
			Login: &messages.Login{Subject: "s"}, LoginExpiresMs: ms + 1000,
			Pending: map[string]*messages.Pending{"r": {ExpiresMs: ms + 1000}},
			Codes:   []*messages.Code{{ExpiresMs: ms + 1000}},
			Grants:  []*messages.Grant{{CreatedMs: ms, RefreshExpiresMs: ms + 1000}},
		}
	}
	for name, expire := range map[string]func(*messages.SessionState){
		"nothing": func(*messages.SessionState) {},
		// Redeemed: kept ten lifetimes past expiry, so a replay is caught.
		"redeemed-code": func(st *messages.SessionState) {
			st.Codes[0].Redeemed, st.Codes[0].ExpiresMs = true, ms-9*time.Minute.Milliseconds()
		},
		"login": func(st *messages.SessionState) { st.LoginExpiresMs = ms - 1 },
		// Unused for its idle limit (session.idle_ttl).
		"idle-login": func(st *messages.SessionState) { st.LoginIdleTtlMs, st.LastUsedMs = 60_000, ms-60_000 },
		"pending":    func(st *messages.SessionState) { st.Pending["r"].ExpiresMs = ms - 1 },
		"ceremony":   func(st *messages.SessionState) { st.Ceremonies = []*messages.Ceremony{{ExpiresMs: ms - 1}} },
		"code":       func(st *messages.SessionState) { st.Codes[0].ExpiresMs = ms - 11*time.Minute.Milliseconds() },
		// Never redeemed: no replay to catch, gone at expiry.
		"unredeemed-code": func(st *messages.SessionState) { st.Codes[0].ExpiresMs = ms - 1 },
		"grant": func(st *messages.SessionState) {
			st.Grants[0].RefreshExpiresMs, st.Grants[0].CreatedMs = ms-2*time.Hour.Milliseconds(), 0
		},
	} {
		t.Run(name, func(t *testing.T) {
			st := fresh()
			expire(st)
			before := proto.Clone(st)
			dry := prune(nil, st, now, time.Minute, time.Hour)
			if !proto.Equal(st, before) {
				t.Fatal("the dry run changed the state")
			}
			if wet := prune(st, st, now, time.Minute, time.Hour); wet != dry || dry != (name != "nothing" && name != "redeemed-code") {
				t.Fatalf("dry %v, real %v", dry, wet)
			}
		})
	}
}
