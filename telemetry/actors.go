package telemetry

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"authrim/actors/messages"
)

// deadlineKey carries the caller's deadline (Unix milliseconds) in a
// message's carrier, next to the W3C trace context.
const deadlineKey = "authrim-deadline-ms"

// maxCarried bounds how far ahead a carried deadline is believed.
const maxCarried = time.Minute

// Inject writes the request context of ctx into a message: its span
// context, so the actor that receives it continues the trace (on this
// node or another), and its deadline, so the actor's own work (its store
// calls) gives up when the caller has.
func Inject(ctx context.Context, msg any) {
	m, ok := msg.(messages.Traced)
	if !ok {
		return
	}
	carrier := propagation.MapCarrier{}
	if trace.SpanContextFromContext(ctx).IsValid() {
		Propagator.Inject(ctx, carrier)
	}
	if dl, ok := ctx.Deadline(); ok {
		carrier[deadlineKey] = strconv.FormatInt(dl.UnixMilli(), 10)
	}
	if len(carrier) > 0 {
		m.SetTrace(carrier)
	}
}

// Context returns the context a received message's work runs in: the
// caller's trace (so store spans join it) and the caller's deadline, or
// fallback from now when the caller set none: an actor never waits on
// storage for ever, which would block its mailbox. Call cancel when the
// work is done.
func Context(msg any, fallback time.Duration) (context.Context, context.CancelFunc) {
	ctx := context.Background()
	deadline := time.Now().Add(fallback)
	if m, ok := msg.(messages.Traced); ok && len(m.GetTrace()) > 0 {
		ctx = Propagator.Extract(ctx, propagation.MapCarrier(m.GetTrace()))
		if ms, err := strconv.ParseInt(m.GetTrace()[deadlineKey], 10, 64); err == nil {
			// A clock far off (or a forged value) is not believed past
			// maxCarried.
			deadline = time.UnixMilli(ms)
			if far := time.Now().Add(maxCarried); deadline.After(far) {
				deadline = far
			}
		}
	}
	return context.WithDeadline(ctx, deadline)
}

// messageName is the message's type name without package and pointer.
func messageName(msg any) string {
	n := reflect.TypeOf(msg).String()
	if i := strings.LastIndex(n, "."); i >= 0 {
		n = n[i+1:]
	}
	return n
}

// ActorMiddleware counts, times and traces every message an actor of
// kind receives. A traced message gets a span whose parent is the
// caller's; the message's carrier then names that span, so the actor's
// own store calls (through Context) become its children.
func (t *Telemetry) ActorMiddleware(kind string) actor.ReceiverMiddleware {
	messagesOf := func(name string) interface{ Inc() } { return t.ActorMessages.WithLabelValues(kind, name) }
	duration := t.ActorDuration.WithLabelValues(kind)
	activations := t.ActorActivations.WithLabelValues(kind)
	passivations := t.ActorPassivations.WithLabelValues(kind)
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			switch env.Message.(type) {
			case *actor.Started:
				activations.Inc()
				next(c, env)
				return
			case *actor.Stopped:
				passivations.Inc()
				next(c, env)
				return
			case actor.SystemMessage, actor.AutoReceiveMessage:
				next(c, env)
				return
			}
			start := time.Now()
			name := messageName(env.Message)
			if tm, ok := env.Message.(messages.Traced); ok && len(tm.GetTrace()) > 0 {
				parent := Propagator.Extract(context.Background(), propagation.MapCarrier(tm.GetTrace()))
				ctx, span := t.Tracer.Start(parent, kind+" "+name, trace.WithSpanKind(trace.SpanKindServer))
				carrier := propagation.MapCarrier{}
				Propagator.Inject(ctx, carrier)
				tm.SetTrace(carrier)
				next(c, env)
				span.End()
			} else {
				next(c, env)
			}
			messagesOf(name).Inc()
			duration.Observe(time.Since(start).Seconds())
		}
	}
}

// Mailbox counts messages waiting in an actor kind's mailboxes.
func (t *Telemetry) Mailbox(kind string) actor.MailboxMiddleware {
	return mailboxGauge{g: t.ActorMailbox.WithLabelValues(kind)}
}

type mailboxGauge struct {
	g interface {
		Inc()
		Dec()
	}
}

func (m mailboxGauge) MailboxStarted()     {}
func (m mailboxGauge) MessagePosted(any)   { m.g.Inc() }
func (m mailboxGauge) MessageReceived(any) { m.g.Dec() }
func (m mailboxGauge) MailboxEmpty()       {}

// PropsOptions instrument the actors of kind: metrics and tracing per
// message, and the mailbox gauge.
func (t *Telemetry) PropsOptions(kind string) []actor.PropsOption {
	return []actor.PropsOption{
		actor.WithReceiverMiddleware(t.ActorMiddleware(kind)),
		actor.WithMailbox(actor.Unbounded(t.Mailbox(kind))),
	}
}

// Inline measures and traces work an actor of kind would do, done on the
// caller's goroutine instead (crypto.mode inline): the same message and
// duration metrics as ActorMiddleware, and a span under ctx's, so a
// deployment shows the same figures and traces with or without the hop.
func (t *Telemetry) Inline(kind string) func(ctx context.Context, msg any, work func()) {
	duration := t.ActorDuration.WithLabelValues(kind)
	return func(ctx context.Context, msg any, work func()) {
		start := time.Now()
		name := messageName(msg)
		if trace.SpanContextFromContext(ctx).IsValid() {
			_, span := t.Tracer.Start(ctx, kind+" "+name, trace.WithSpanKind(trace.SpanKindInternal))
			work()
			span.End()
		} else {
			work()
		}
		t.ActorMessages.WithLabelValues(kind, name).Inc()
		duration.Observe(time.Since(start).Seconds())
	}
}
