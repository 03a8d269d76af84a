package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"authrim/persistence"
)

// Bucket holds the events (declared in persistence/schema.go).
const Bucket = persistence.BucketAudit

// Event is one stored audit event.
type Event struct {
	// ID is the event's key: its cursor (see the package doc).
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Level    string    `json:"level"`
	Message  string    `json:"message"`
	Member   string    `json:"member,omitempty"`
	Subject  string    `json:"sub,omitempty"`
	ClientID string    `json:"client_id,omitempty"`
	ClientIP string    `json:"client_ip,omitempty"`
	// Attrs are the record's other attributes, as text.
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Bounds that keep one event small whatever a call site logs.
const (
	maxAttrs     = 24
	maxValueLen  = 512
	maxTypeLen   = 80
	maxMemberLen = 64
	// queueLen bounds the events waiting for the writer; beyond it an
	// event is dropped and counted (Dropped), never blocking the caller.
	queueLen = 4096
)

// TypeOf is the type of an event logged with message msg: lower case,
// runs of other characters than letters and digits as one underscore.
func TypeOf(msg string) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(msg) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if sep && b.Len() > 0 {
				b.WriteByte('_')
			}
			sep = false
			b.WriteRune(r)
			continue
		}
		sep = true
	}
	return clip(b.String(), maxTypeLen)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// Log captures audit records and stores them.
type Log struct {
	member string
	now    func() time.Time
	queue  chan Event

	mu      sync.Mutex
	last    time.Time
	seq     uint64
	started bool
	done    chan struct{}
	stop    chan struct{}
	// onStored is called with each stored event (webhooks).
	onStored func(context.Context, Event)
	errLog   *slog.Logger

	dropped atomic.Int64
	stored  atomic.Int64
}

// NewLog returns a Log for the member named member. Events are queued
// from the start and stored once Start runs.
func NewLog(member string, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{member: clip(member, maxMemberLen), now: now, queue: make(chan Event, queueLen)}
}

// Dropped is how many events were dropped because the queue was full.
func (l *Log) Dropped() int64 { return l.dropped.Load() }

// Stored is how many events this Log has stored.
func (l *Log) Stored() int64 { return l.stored.Load() }

// Start stores queued and later events in store until Close. errs
// receives the writer's own failures (never captured as events);
// onStored, if set, is called after each event is stored.
func (l *Log) Start(store persistence.Backend, errs *slog.Logger, onStored func(context.Context, Event)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return
	}
	l.started = true
	l.errLog = errs
	l.onStored = onStored
	l.done = make(chan struct{})
	l.stop = make(chan struct{})
	go l.write(store, l.stop)
}

// Close stores what is queued, then stops the writer.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	if !l.started || l.stop == nil {
		l.mu.Unlock()
		return nil
	}
	stop, done := l.stop, l.done
	l.stop = nil
	l.mu.Unlock()
	close(stop)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Log) write(store persistence.Backend, stop <-chan struct{}) {
	defer close(l.done)
	ctx := context.Background()
	for {
		select {
		case ev := <-l.queue:
			l.store(ctx, store, ev)
		case <-stop:
			for {
				select {
				case ev := <-l.queue:
					l.store(ctx, store, ev)
				default:
					return
				}
			}
		}
	}
}

func (l *Log) store(ctx context.Context, store persistence.Backend, ev Event) {
	b, err := json.Marshal(ev)
	if err == nil {
		// A few tries: the store may be briefly unavailable (an etcd
		// leader change).
		for i := range 3 {
			if err = store.Put(ctx, Bucket, ev.ID, b); err == nil || errors.Is(err, persistence.ErrClosed) {
				break
			}
			time.Sleep(time.Duration(i+1) * 100 * time.Millisecond)
		}
	}
	if err != nil {
		if l.errLog != nil {
			l.errLog.Error("audit event not stored", "type", ev.Type, "id", ev.ID, "err", err)
		}
		return
	}
	l.stored.Add(1)
	if l.onStored != nil {
		l.onStored(ctx, ev)
	}
}

// key makes the next key: the time, made strictly increasing for this
// member, and a sequence.
func (l *Log) key(t time.Time) (string, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t = t.UTC()
	if !t.After(l.last) {
		t = l.last.Add(time.Nanosecond)
	}
	l.last = t
	l.seq++
	return fmt.Sprintf("%s-%s-%08x", t.Format(keyTime), l.member, l.seq), t
}

// keyTime formats an event's time in its key: fixed width, so keys sort
// by time; the day (its first 8 characters) is a List prefix.
const keyTime = "20060102T150405.000000000Z"

// enqueue queues ev without ever blocking.
func (l *Log) enqueue(ev Event) {
	select {
	case l.queue <- ev:
	default:
		l.dropped.Add(1)
	}
}

// Handler wraps next: records logged with "audit", true are captured as
// events (whatever next's level), and every record still goes to next
// when next takes its level.
func (l *Log) Handler(next slog.Handler) slog.Handler {
	return &handler{log: l, next: next}
}

type handler struct {
	log   *Log
	next  slog.Handler
	attrs []slog.Attr // from WithAttrs, keys with their group prefix
	group string
}

// Enabled takes every record from Info up (audit records are Info or
// more) and whatever next takes.
func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo || h.next.Enabled(ctx, level)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if isAudit(h.attrs) || recordIsAudit(r) {
		if actor := ActorFrom(ctx); actor != "" && !hasAttr(r, ActorAttr) {
			// Who made the change, for every audit line of the request
			// (the log line too, not only the stored event).
			r = r.Clone()
			r.AddAttrs(slog.String(ActorAttr, actor))
		}
		h.log.capture(r, h.attrs, h.group)
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(c.attrs[:len(c.attrs):len(c.attrs)], prefixed(h.group, as)...)
	c.next = h.next.WithAttrs(as)
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	c := *h
	if name != "" {
		c.group = h.group + name + "."
	}
	c.next = h.next.WithGroup(name)
	return &c
}

func prefixed(group string, as []slog.Attr) []slog.Attr {
	if group == "" {
		return as
	}
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = slog.Attr{Key: group + a.Key, Value: a.Value}
	}
	return out
}

type actorKey struct{}

// ActorAttr is the attribute naming who made a change: "admin-token"
// (the admin API's bearer token) or an admin's subject (the console).
// ("actor" is taken: grains log their kind under it.)
const ActorAttr = "acted_by"

// WithActor names who acts in ctx: the audit lines logged with it carry
// an ActorAttr attribute, unless they name one themselves.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom is the actor WithActor put in ctx, or "".
func ActorFrom(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func isAudit(as []slog.Attr) bool {
	for _, a := range as {
		if a.Key == "audit" && a.Value.Kind() == slog.KindBool && a.Value.Bool() {
			return true
		}
	}
	return false
}

func recordIsAudit(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "audit" && a.Value.Kind() == slog.KindBool && a.Value.Bool() {
			found = true
			return false
		}
		return true
	})
	return found
}

// capture turns a record into an event and queues it.
func (l *Log) capture(r slog.Record, pre []slog.Attr, group string) {
	// The Log's clock, not the record's: the node's clock, which the
	// retention is measured with.
	t := l.now()
	ev := Event{Message: clip(r.Message, maxValueLen), Level: r.Level.String(), Member: l.member}
	ev.ID, ev.Time = l.key(t)
	add := func(a slog.Attr) {
		a.Value = a.Value.Resolve()
		switch a.Key {
		case "audit":
			return
		case "event":
			ev.Type = TypeOf(a.Value.String())
			return
		case "sub":
			ev.Subject = clip(a.Value.String(), maxValueLen)
			return
		case "client_id":
			ev.ClientID = clip(a.Value.String(), maxValueLen)
			return
		case "client_ip":
			ev.ClientIP = clip(a.Value.String(), maxValueLen)
			return
		}
		if ev.Attrs == nil {
			ev.Attrs = map[string]string{}
		}
		if len(ev.Attrs) < maxAttrs {
			ev.Attrs[clip(a.Key, maxTypeLen)] = clip(a.Value.String(), maxValueLen)
		}
	}
	for _, a := range pre {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool {
		if group != "" {
			a.Key = group + a.Key
		}
		add(a)
		return true
	})
	if ev.Type == "" {
		ev.Type = TypeOf(r.Message)
	}
	l.enqueue(ev)
}
