package node

import (
	"context"
	"net/http"
	"time"

	pc "github.com/asynkron/protoactor-go/cluster"

	"authrim/actors/delivery"
	"authrim/actors/messages"
	"authrim/email"
	"authrim/http/backchannel"
	"authrim/persistence"
	"authrim/webhooks"
)

// DeliveryConfig tunes the outbox (actors/delivery): how its messages
// (back-channel logout tokens, emails, webhooks) are retried.
type DeliveryConfig struct {
	// RetryInitial is the wait after a first failed attempt; it doubles
	// after each further one up to RetryMax.
	RetryInitial Duration `yaml:"retry_initial"`
	RetryMax     Duration `yaml:"retry_max"`
	// GiveUpAfter bounds the time from a message's creation to its last
	// attempt.
	GiveUpAfter Duration `yaml:"give_up_after"`
	// Concurrency bounds the attempts in flight (on the one member that
	// runs the outbox).
	Concurrency int `yaml:"concurrency"`
	// AttemptTimeout bounds one attempt.
	AttemptTimeout Duration `yaml:"attempt_timeout"`
	// ScanInterval is how often the outbox is read whole, and how often
	// every member makes sure the Delivery grain runs (after its member
	// died, it comes back within about this time).
	ScanInterval Duration `yaml:"scan_interval"`
}

func (c Config) deliveryProblems(add func(key, format string, args ...any)) {
	d := c.Delivery
	if d.RetryInitial < Duration(10*time.Millisecond) || d.RetryMax < d.RetryInitial {
		add("delivery", "retry_initial must be at least 10ms and retry_max at least retry_initial")
	}
	if d.GiveUpAfter < d.RetryInitial || d.GiveUpAfter > Duration(30*24*time.Hour) {
		add("delivery.give_up_after", "must be at least retry_initial and at most 720h")
	}
	if d.Concurrency < 1 || d.Concurrency > 256 {
		add("delivery.concurrency", "must be between 1 and 256")
	}
	if d.AttemptTimeout <= 0 || d.AttemptTimeout > Duration(time.Minute) {
		add("delivery.attempt_timeout", "must be positive and at most 1m")
	}
	if d.ScanInterval < Duration(100*time.Millisecond) || d.ScanInterval > Duration(10*time.Minute) {
		add("delivery.scan_interval", "must be between 100ms and 10m")
	}
}

// deliveryKind is the Delivery grain's kind with the node's handlers.
// Handlers reach the Crypto pool through the node when they run: the
// pool starts after the actor system.
func (n *Node) deliveryKind() *pc.Kind {
	cfg := n.cfg
	// Callbacks go through the same guard as request_uri and jwks_uri.
	out := n.fetcher
	logout := &backchannel.Handler{
		Issuer:  cfg.Issuer,
		Clients: n.dir,
		Sign: func(ctx context.Context, alg string, payload []byte, typ string) (string, error) {
			tok, _, err := n.Crypto().Sign(ctx, alg, payload, typ)
			return tok, err
		},
		Post: func(ctx context.Context, u, ct string, body []byte, h http.Header) (int, error) {
			return out.Post(ctx, u, ct, body, h)
		},
		Now: n.now,
	}
	var metrics delivery.Metrics
	if !n.opts.NoInstrumentation {
		metrics = deliveryMetrics{n}
	}
	handlers := map[string]delivery.Handler{backchannel.Kind: logout, webhooks.Kind: n.webhooks}
	if mail, err := n.mailHandler(); err != nil {
		// Validate checked smtp at start; a password file gone since is
		// told on every attempt.
		handlers[email.Kind] = delivery.HandlerFunc(func(context.Context, *delivery.Message) error { return err })
	} else if mail != nil {
		handlers[email.Kind] = mail
	}
	d := cfg.Delivery
	return delivery.NewKind(delivery.Config{
		Store:    n.store,
		Owners:   n.owners,
		Handlers: handlers,
		Retry: delivery.Retry{
			Initial: d.RetryInitial.D(), Max: d.RetryMax.D(), GiveUpAfter: d.GiveUpAfter.D(),
		},
		Concurrency:    d.Concurrency,
		AttemptTimeout: d.AttemptTimeout.D(),
		ScanInterval:   d.ScanInterval.D(),
		StoreTimeout:   cfg.Cluster.RequestTimeout.D(),
		Now:            n.now,
		Metrics:        metrics,
		Logger:         n.logger.With("actor", delivery.Kind),
	})
}

type deliveryMetrics struct{ n *Node }

func (m deliveryMetrics) Outcome(kind, outcome string) {
	m.n.tel.Deliveries.WithLabelValues(kind, outcome).Inc()
}

func (m deliveryMetrics) Delivered(kind string, d time.Duration) {
	m.n.tel.DeliveryLatency.WithLabelValues(kind).Observe(d.Seconds())
}

// recordEnded is the Session grains' Config.Ended: the relying-party
// sessions a call ended become back-channel logout messages, written
// through the grain's (fenced) store before the grain stores its state,
// and the Delivery grain is told.
func (n *Node) recordEnded(ctx context.Context, store persistence.Backend, sid string, ended []*messages.EndedClient) error {
	msgs, err := backchannel.Messages(ctx, n.dir, sid, ended, n.now())
	if err != nil || len(msgs) == 0 {
		return err
	}
	if err := delivery.Enqueue(ctx, store, msgs...); err != nil {
		return err
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	go n.kickDelivery(context.Background(), ids)
	return nil
}

// kickDelivery asks the Delivery grain to take messages (or, with none,
// only to run). A lost kick costs time, not messages: the grain reads
// the whole outbox every scan_interval, and every member pokes it.
func (n *Node) kickDelivery(ctx context.Context, ids []string) {
	actors := n.actorsRef.Load()
	if actors == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Cluster.RequestTimeout.D())
	defer cancel()
	if _, err := actors.RequestGrain(ctx, delivery.Kind, delivery.Identity, &messages.DeliveryKick{Ids: ids}); err != nil {
		n.logger.Debug("delivery kick not answered", "err", err)
	}
}

// startDelivery pokes the Delivery grain now and every scan_interval,
// so that it runs somewhere (it comes back on another member when its
// member dies, and carries on from the outbox).
func (n *Node) startDelivery(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(n.cfg.Delivery.ScanInterval.D())
		defer t.Stop()
		for {
			// ctx: a stopping node does not wait for the answer.
			n.kickDelivery(ctx, nil)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	n.onClose(func() {
		cancel()
		// A poke waiting for this member's own grain (in a store call
		// that may not end while etcd has no quorum, as when the last
		// members stop) is not worth holding the stop for: its answer
		// would be dropped anyway.
		select {
		case <-done:
		case <-time.After(500 * time.Millisecond):
		}
	})
	return nil
}

// OutboxLen is how many messages wait in the outbox (delivery or retry).
func (n *Node) OutboxLen(ctx context.Context) (int, error) {
	count := 0
	err := n.store.List(ctx, delivery.Bucket, "", func(string, []byte) error { count++; return nil })
	return count, err
}
