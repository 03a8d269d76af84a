package session

// Ends of sign-ins, as the relying parties and the user's session list
// see them: which clients received an ID token of this session (the
// relying parties' own sessions, which back- and front-channel logout
// must reach), the per-user index of sessions, and describing a session
// to its user or an operator.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
	"authrim/persistence"
)

// IndexBucket is the per-user index of sessions (declared in
// persistence/schema.go): key subject NUL sid, value IndexEntry.
const IndexBucket = persistence.BucketUserSessions

// IndexEntry is what the user's session list shows of a sign-in without
// asking its grain. The grain writes it with the login (alongside) and
// removes it once the login has ended, so an entry may outlive its login
// (a crash in between, or expiry): readers ask the grain (Describe)
// before they show one, and drop what it no longer knows.
type IndexEntry struct {
	Sid        string   `json:"sid"`
	SignedInMs int64    `json:"signed_in_ms"`
	UserAgent  string   `json:"user_agent,omitempty"`
	Address    string   `json:"address,omitempty"`
	Methods    []string `json:"amr,omitempty"`
}

// maxUserAgent bounds what a browser's header can make us store.
const maxUserAgent = 256

func indexKey(subject, sid string) string { return subject + "\x00" + sid }

// ListIndex returns the index entries of subject's sessions, in sid
// order. It reads one key range: no session record is visited.
func ListIndex(ctx context.Context, store persistence.Backend, subject string) ([]IndexEntry, error) {
	if subject == "" || strings.ContainsRune(subject, 0) {
		return nil, nil
	}
	var out []IndexEntry
	err := store.List(ctx, IndexBucket, subject+"\x00", func(_ string, v []byte) error {
		var e IndexEntry
		if json.Unmarshal(v, &e) == nil && e.Sid != "" {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("session: list index: %w", err)
	}
	return out, nil
}

// DropIndex removes subject's entry for sid (a session its grain no
// longer knows as theirs).
func DropIndex(ctx context.Context, store persistence.Backend, subject, sid string) error {
	err := store.Delete(ctx, IndexBucket, indexKey(subject, sid))
	if errors.Is(err, persistence.ErrNotFound) {
		return nil
	}
	return err
}

// hasOpenID reports whether scopes asked for an ID token.
func hasOpenID(scopes []string) bool { return slices.Contains(scopes, "openid") }

// sawIDToken records that gr's client received an ID token of this
// session for gr's subject, kept until the later of the login's end and
// the grant's refresh tokens'.
func (o *op) sawIDToken(gr *messages.Grant) {
	if !hasOpenID(gr.Scopes) || gr.Login == nil {
		return
	}
	o.writable()
	exp := max(o.st.LoginExpiresMs, gr.RefreshExpiresMs, o.ms()+o.g.cfg.AccessTokenTTL.Milliseconds())
	for i, rp := range o.st.RpSessions {
		if rp.ClientId == gr.ClientId && rp.Subject == gr.Login.Subject {
			if rp.ExpiresMs < exp {
				o.st.RpSessions[i] = &messages.RPSession{ClientId: rp.ClientId, Subject: rp.Subject, ExpiresMs: exp, FirstMs: rp.FirstMs}
				o.changed = true
			}
			return
		}
	}
	if len(o.st.RpSessions) >= maxGrants {
		// Bound the state: the oldest relying-party session is forgotten
		// (it is no longer told of the logout; logged for the operator).
		o.g.cfg.Logger.Warn("relying-party session forgotten: too many in the session", "sid", o.g.sid,
			"client_id", o.st.RpSessions[0].ClientId)
		o.st.RpSessions = slices.Delete(o.st.RpSessions, 0, 1)
	}
	o.st.RpSessions = append(o.st.RpSessions, &messages.RPSession{
		ClientId: gr.ClientId, Subject: gr.Login.Subject, ExpiresMs: exp, FirstMs: o.ms()})
	o.changed = true
}

// endFor ends the relying-party sessions of subject: each becomes an
// EndedClient of the reply (front-channel logout) and of the op
// (recorded in the outbox before the state is stored: back-channel
// logout), and the subject's index entry goes once the state is stored.
func (o *op) endFor(subject string) {
	o.writable()
	kept := o.st.RpSessions[:0:0]
	for _, rp := range o.st.RpSessions {
		if rp.Subject != subject {
			kept = append(kept, rp)
			continue
		}
		e := &messages.EndedClient{ClientId: rp.ClientId, Subject: rp.Subject, SinceMs: rp.FirstMs}
		o.ended = append(o.ended, e)
		o.reply.Ended = append(o.reply.Ended, e)
	}
	o.st.RpSessions = kept
	o.unindex = append(o.unindex, subject)
	o.changed = true
}

// endByOperator is EndSession with a subject: not the browser's call, so
// no cookie secret, but only the login of that subject ends.
func (o *op) endByOperator(m *messages.EndSession) error {
	if o.st == nil || o.st.Login == nil || o.st.Login.Subject != m.Subject {
		return errNoSession
	}
	o.g.cfg.Logger.Info("session ended", "audit", true, "sid", o.g.sid, "sub", m.Subject, "reason", m.Reason)
	o.endLogin()
	return nil
}

// describe answers DescribeSession: the login if it is subject's, and
// the clients with live tokens or ID tokens of that subject here.
func (o *op) describe(m *messages.DescribeSession) error {
	if o.st == nil || o.st.Login == nil || o.st.Login.Subject != m.Subject {
		return errNoSession
	}
	if err := o.liveLogin(); err != nil {
		return err
	}
	if o.st.Login == nil {
		return errNoSession
	}
	var clients []string
	for _, gr := range o.st.Grants {
		if !gr.Revoked && gr.Login.GetSubject() == m.Subject {
			clients = append(clients, gr.ClientId)
		}
	}
	for _, rp := range o.st.RpSessions {
		if rp.Subject == m.Subject {
			clients = append(clients, rp.ClientId)
		}
	}
	slices.Sort(clients)
	o.reply.Clients = slices.Compact(clients)
	o.reply.Login = o.st.Login
	o.reply.CreatedMs = o.st.CreatedMs
	return nil
}

// indexWrite is the index entry a sign-in writes, with its subject.
type indexWrite struct {
	subject string
	IndexEntry
}

func newIndexWrite(sid string, l *messages.Login, m *messages.CompleteLogin) *indexWrite {
	ua := strings.ToValidUTF8(m.UserAgent, "")
	if len(ua) > maxUserAgent {
		ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
	}
	return &indexWrite{subject: l.Subject, IndexEntry: IndexEntry{
		Sid: sid, SignedInMs: l.AuthTimeMs, UserAgent: ua, Address: m.Address, Methods: l.Amr}}
}

// record writes, before the state is stored, what must not be lost if the
// node stops right after: the relying-party sessions the call ended (to
// the outbox, through Config.Ended). It is idempotent, so a call run
// again after a failure writes the same records.
func (o *op) record(ctx context.Context, store persistence.Backend) error {
	if len(o.ended) > 0 && o.g.cfg.Ended != nil {
		if err := o.g.cfg.Ended(ctx, store, o.g.sid, o.ended); err != nil {
			return fmt.Errorf("session: record ended sessions: %w", err)
		}
	}
	return nil
}

// indexConcurrently starts writing the index entry of a new sign-in, if
// the call made one, while the caller stores the state; the returned
// function waits for it. Written together they cost one group commit on
// bbolt (one raft round on etcd) instead of two in a row. The one case
// they disagree in, the state stored and the entry not (a store failing
// between the two), leaves a session its user and operators do not see
// listed; it still ends at its next use if its user is disabled
// (SubjectActive), and at its expiry.
func (o *op) indexConcurrently(ctx context.Context, store persistence.Backend) (wait func() error) {
	if o.index == nil {
		return func() error { return nil }
	}
	b, err := json.Marshal(o.index)
	if err != nil {
		return func() error { return err }
	}
	done := make(chan error, 1)
	key := indexKey(o.index.subject, o.g.sid)
	go func() { done <- store.Put(ctx, IndexBucket, key, b) }()
	return func() error { return <-done }
}

// unrecord drops the index entries of ended logins, once the state that
// ended them is stored. A failure leaves an entry that readers drop.
func (o *op) unrecord(ctx context.Context, store persistence.Backend) {
	for _, subject := range o.unindex {
		if o.index != nil && o.index.subject == subject {
			continue // signed in again in the same call
		}
		if err := DropIndex(ctx, store, subject, o.g.sid); err != nil {
			o.g.cfg.Logger.Warn("session: index entry not removed", "err", err)
		}
	}
}

// indexGrace keeps the sweeper off entries of sign-ins in progress: the
// grain writes the entry alongside the login, which may land later.
const indexGrace = time.Minute

// SweepIndex deletes index entries whose session no longer holds a
// login of their subject (ended, expired, swept), and returns how many.
// An entry is deleted only if it still holds the bytes that were judged.
func SweepIndex(ctx context.Context, store persistence.Backend, now time.Time) (removed int, err error) {
	type stale struct {
		key   string
		value []byte
	}
	var found []stale
	err = store.List(ctx, IndexBucket, "", func(key string, v []byte) error {
		subject, sid, ok := strings.Cut(key, "\x00")
		var e IndexEntry
		if ok && json.Unmarshal(v, &e) == nil && now.Sub(time.UnixMilli(e.SignedInMs)) < indexGrace {
			return nil
		}
		if ok {
			b, err := store.Get(ctx, Bucket, sid)
			if err != nil && !errors.Is(err, persistence.ErrNotFound) {
				return err
			}
			st := &messages.SessionState{}
			if err == nil && proto.Unmarshal(b, st) == nil && st.Login != nil &&
				st.Login.Subject == subject && st.LoginExpiresMs > now.UnixMilli() {
				return nil
			}
		}
		found = append(found, stale{key: key, value: bytes.Clone(v)})
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("session: sweep index: %w", err)
	}
	for _, s := range found {
		err := store.Update(ctx, IndexBucket, s.key, func(old []byte, exists bool) ([]byte, error) {
			if !exists || !bytes.Equal(old, s.value) {
				return nil, errChanged
			}
			return nil, nil
		})
		switch {
		case errors.Is(err, errChanged):
		case err != nil:
			return removed, fmt.Errorf("session: sweep index: %w", err)
		default:
			removed++
		}
	}
	return removed, nil
}
