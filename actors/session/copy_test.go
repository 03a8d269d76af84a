package session

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"authrim/actors/messages"
)

// Every operation works on a shallow copy of the adopted state; whatever
// it does (succeed, refuse, revoke on replay), the adopted state must not
// change: a failed write keeps it, and replies already sent share it.
func TestOperationsNeverChangeTheAdoptedState(t *testing.T) {
	now := time.Now()
	future := now.Add(time.Minute).UnixMilli()
	rich := func() *messages.SessionState {
		return &messages.SessionState{
			Sid: "sid", SecretHash: hash("sec"), CreatedMs: now.UnixMilli(),
			Login: &messages.Login{Subject: "u", AuthTimeMs: now.UnixMilli(), Amr: []string{"pwd"}}, LoginExpiresMs: future,
			Consents: map[string]*messages.Consent{"rp": {Scopes: []string{"openid"}}},
			Pending: map[string]*messages.Pending{"rid": {ExpiresMs: future,
				Request: &messages.AuthRequest{ClientId: "rp", RedirectUri: "https://rp/cb", Scopes: []string{"openid", "profile"}}}},
			Codes: []*messages.Code{
				{Hash: hash("codeA"), ExpiresMs: future, Login: &messages.Login{Subject: "u"},
					Request: &messages.AuthRequest{ClientId: "rp", RedirectUri: "https://rp/cb", Scopes: []string{"openid"}}},
				{Hash: hash("codeB"), ExpiresMs: future, Redeemed: true, GrantId: "g1"},
			},
			Grants: []*messages.Grant{{Id: "g1", ClientId: "rp", Scopes: []string{"openid"}, CreatedMs: now.UnixMilli(),
				RefreshExpiresMs: future, RefreshHash: hash("rt"), UsedRefreshHashes: [][]byte{hash("old")}}},
			Ceremonies: []*messages.Ceremony{{Kind: "login", Challenge: "ch", ExpiresMs: future}},
		}
	}
	cfg := Config{Now: time.Now, CodeTTL: time.Minute, PendingTTL: time.Minute, LoginTTL: time.Hour,
		AccessTokenTTL: time.Hour, CeremonyTTL: time.Minute, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	calls := map[string]*messages.SessionCall{
		"get":           {Op: &messages.SessionCall_Get{Get: &messages.GetSession{ClientId: "rp", Rid: "rid"}}},
		"begin":         {Op: &messages.SessionCall_Begin{Begin: &messages.BeginAuth{Request: &messages.AuthRequest{ClientId: "rp"}}}},
		"login":         {Op: &messages.SessionCall_Login{Login: &messages.CompleteLogin{Rid: "rid", Login: &messages.Login{Subject: "v"}}}},
		"consent":       {Op: &messages.SessionCall_Consent{Consent: &messages.GiveConsent{Rid: "rid"}}},
		"issue":         {Op: &messages.SessionCall_Issue{Issue: &messages.IssueCode{Rid: "rid"}}},
		"issue-when":    {Op: &messages.SessionCall_Issue{Issue: &messages.IssueCode{Request: &messages.AuthRequest{ClientId: "rp", MaxAge: -1}, When: &messages.IssueWhen{Consent: []string{"openid"}}}}},
		"redeem":        {Op: &messages.SessionCall_Redeem{Redeem: &messages.RedeemCode{CodeSecret: "codeA", ClientId: "rp", RedirectUri: "https://rp/cb", RefreshTtlMs: 1000}}},
		"redeem-again":  {Op: &messages.SessionCall_Redeem{Redeem: &messages.RedeemCode{CodeSecret: "codeB", ClientId: "rp", RedirectUri: "https://rp/cb"}}},
		"refresh":       {Op: &messages.SessionCall_Refresh{Refresh: &messages.RefreshGrant{GrantId: "g1", TokenSecret: "rt", ClientId: "rp"}}},
		"refresh-reuse": {Op: &messages.SessionCall_Refresh{Refresh: &messages.RefreshGrant{GrantId: "g1", TokenSecret: "old", ClientId: "rp"}}},
		"check":         {Op: &messages.SessionCall_Check{Check: &messages.CheckGrant{GrantId: "g1", TokenSecret: "rt"}}},
		"revoke":        {Op: &messages.SessionCall_Revoke{Revoke: &messages.RevokeGrant{GrantId: "g1", ClientId: "rp", TokenSecret: "rt"}}},
		"logout":        {Op: &messages.SessionCall_Logout{Logout: &messages.EndSession{}}},
		"start":         {Op: &messages.SessionCall_Start{Start: &messages.StartCeremony{Ceremony: &messages.Ceremony{Kind: "login", Challenge: "ch2"}}}},
		"take":          {Op: &messages.SessionCall_Take{Take: &messages.TakeCeremony{Kind: "login", Challenge: "ch"}}},
	}
	// With the user gone, ops that use the login end everything of the
	// user's: on a copy too, including reads, which otherwise work on
	// the adopted state itself.
	for _, mode := range []struct {
		name     string
		subjects Subjects
	}{{"user active", nil}, {"user gone", noSubjects{}}} {
		g := &grain{sid: "sid", cfg: cfg}
		g.cfg.Subjects = mode.subjects
		for name, call := range calls {
			t.Run(mode.name+"/"+name, func(t *testing.T) {
				adopted := rich()
				before := proto.Clone(adopted)
				g.st = adopted
				st := shallowCopy(adopted)
				if readOnly(call) {
					st = adopted // as handle does
				}
				o := &op{ctx: t.Context(), g: g, st: st, now: now, secret: "sec", reply: &messages.SessionReply{}}
				call.Secret = "sec"
				err := o.run(call)
				if !proto.Equal(adopted, before) {
					t.Fatalf("%s (err %v) changed the adopted state:\n%v\nwas\n%v", name, err, adopted, before)
				}
				if mode.subjects == nil && name != "get" && name != "check" && !o.changed {
					t.Fatalf("%s changed nothing (err %v): the case tests nothing", name, err)
				}
			})
		}
	}
}

// noSubjects is a directory in which no user exists any more.
type noSubjects struct{}

func (noSubjects) SubjectActive(context.Context, string, time.Time) (bool, error) { return false, nil }

// An op that finds the session's user gone ends the login and revokes
// every grant of theirs, offline_access ones too, and the read that
// noticed it answers as if nobody were signed in.
func TestGoneUserEndsTheSession(t *testing.T) {
	now := time.Now()
	future := now.Add(time.Hour).UnixMilli()
	login := &messages.Login{Subject: "u", AuthTimeMs: now.UnixMilli()}
	st := &messages.SessionState{Sid: "sid", SecretHash: hash("sec"), Login: login, LoginExpiresMs: future,
		Consents: map[string]*messages.Consent{"rp": {Scopes: []string{"openid"}}},
		Codes:    []*messages.Code{{Hash: hash("c"), ExpiresMs: future, Login: login, Request: &messages.AuthRequest{ClientId: "rp"}}},
		Grants: []*messages.Grant{
			{Id: "g1", ClientId: "rp", Login: login, Scopes: []string{"openid", "offline_access"}, RefreshHash: hash("rt"), RefreshExpiresMs: future},
			{Id: "g2", ClientId: "rp", Login: &messages.Login{Subject: "other"}, RefreshHash: hash("rt2"), RefreshExpiresMs: future},
		}}
	g := &grain{sid: "sid", st: st, cfg: Config{Now: time.Now, Subjects: noSubjects{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	o := &op{ctx: t.Context(), g: g, st: st, now: now, secret: "sec", reply: &messages.SessionReply{}}
	if err := o.run(&messages.SessionCall{Secret: "sec", Op: &messages.SessionCall_Get{Get: &messages.GetSession{ClientId: "rp"}}}); err != nil {
		t.Fatal(err)
	}
	switch {
	case !o.changed || o.st == st:
		t.Fatal("the ended session is not written, or was changed in place")
	case o.reply.Login != nil || o.st.Login != nil || o.st.Consents != nil:
		t.Fatalf("login kept: %v", o.st)
	case len(o.st.Codes) != 0:
		t.Fatalf("codes kept: %v", o.st.Codes)
	case !o.st.Grants[0].Revoked || o.st.Grants[0].RefreshHash != nil:
		t.Fatalf("the offline_access grant of the gone user stands: %v", o.st.Grants[0])
	case o.st.Grants[1].Revoked:
		t.Fatal("another user's grant was revoked")
	}
}

// copyGrant and view list Grant's fields by hand: a field added to the
// message must be added there too, or a write would drop it.
func TestGrantCopiesKeepEveryField(t *testing.T) {
	gr := &messages.Grant{}
	m := gr.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		switch {
		case f.IsList():
			l := m.Mutable(f).List()
			if f.Kind() == protoreflect.BytesKind {
				l.Append(protoreflect.ValueOfBytes([]byte("x")))
			} else {
				l.Append(protoreflect.ValueOfString("x"))
			}
		case f.Kind() == protoreflect.MessageKind:
			m.Set(f, protoreflect.ValueOfMessage((&messages.Login{Subject: "s"}).ProtoReflect()))
		case f.Kind() == protoreflect.StringKind:
			m.Set(f, protoreflect.ValueOfString("x"))
		case f.Kind() == protoreflect.BytesKind:
			m.Set(f, protoreflect.ValueOfBytes([]byte("x")))
		case f.Kind() == protoreflect.BoolKind:
			m.Set(f, protoreflect.ValueOfBool(true))
		case f.Kind() == protoreflect.Int64Kind:
			m.Set(f, protoreflect.ValueOfInt64(7))
		default:
			t.Fatalf("field %s of kind %s: extend this test", f.Name(), f.Kind())
		}
	}
	if c := copyGrant(gr); !proto.Equal(c, gr) {
		t.Fatalf("copyGrant dropped a field:\n%v\n%v", c, gr)
	}
	v := view(gr)
	// A view leaves out the secrets' hashes and the grain's own bookkeeping.
	gr.RefreshHash, gr.UsedRefreshHashes, gr.RotatedBy = nil, nil, ""
	if !proto.Equal(v, gr) {
		t.Fatalf("view dropped a field:\n%v\n%v", v, gr)
	}
}
