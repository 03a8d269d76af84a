package node

import (
	"context"
	"errors"
	"time"

	"authrim/actors/device"
	"authrim/actors/session"
)

// DefaultSweepInterval is how often a node sweeps expired records when
// Options.SweepInterval is 0.
const DefaultSweepInterval = 10 * time.Minute

// sweeper is the background goroutine that runs Sweep.
type sweeper struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startSweeper runs Sweep every interval until stopSweeper.
func (n *Node) startSweeper(interval time.Duration) {
	if interval <= 0 {
		interval = DefaultSweepInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &sweeper{cancel: cancel, done: make(chan struct{})}
	n.sweeper = s
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			sessions, jtis, err := n.sweep(ctx)
			if err != nil && ctx.Err() == nil {
				n.logger.Warn("sweeping expired records failed", "err", err, "sessions", sessions, "jtis", jtis)
			} else {
				n.logger.Debug("swept expired records", "sessions", sessions, "jtis", jtis)
			}
		}
	}()
}

// stopSweeper stops the sweeper (cancelling a sweep in progress) and waits
// for it, so that the store can close under it.
func (n *Node) stopSweeper() {
	if n.sweeper == nil {
		return
	}
	n.sweeper.cancel()
	<-n.sweeper.done
	n.sweeper = nil
}

// Sweep deletes what nothing will come back for: session records that
// hold nothing once their expired parts are dropped (a cookieless
// /authorize whose sign-in was never finished leaves one), used
// private_key_jwt ids past their grace, and self-service sign-ups never
// confirmed within accounts.verify_link_ttl. It returns how many records it
// deleted. The node runs it every Options.SweepInterval; correctness does
// not depend on it, only the store's size does.
func (n *Node) Sweep(ctx context.Context) (int, error) {
	sessions, jtis, err := n.sweep(ctx)
	return sessions + jtis, err
}

func (n *Node) sweep(ctx context.Context) (sessions, jtis int, err error) {
	// The same lifetimes the Session grains prune with (see Start).
	sessions, serr := session.Sweep(ctx, n.store, n.now(), CodeTTL, n.cfg.Tokens.AccessTokenTTL.D())
	jtis, jerr := n.dir.SweepJTIs(ctx)
	// Index entries of sign-ins that ended without their grain removing
	// them (expiry, a crash): counted with the sessions.
	indexed, ierr := session.SweepIndex(ctx, n.store, n.now())
	// Device authorizations and user codes past their expiry: counted
	// with the jtis (short-lived one-time records).
	devices, derr := device.Sweep(ctx, n.store, n.now())
	// Audit events past audit.retention: counted with the jtis too.
	events, aerr := n.pruneAudit(ctx)
	// Sign-ups never confirmed within the verification link's lifetime
	// (their usernames become free again).
	signups, perr := n.dir.SweepPendingSignUps(ctx, n.cfg.Accounts.VerifyLinkTTL.D())
	for _, u := range signups {
		n.logger.InfoContext(ctx, "unconfirmed sign-up removed", "audit", true, "sub", u.Subject, "username", u.Username)
	}
	return sessions + indexed, jtis + devices + events + len(signups), errors.Join(serr, jerr, ierr, derr, aerr, perr)
}
