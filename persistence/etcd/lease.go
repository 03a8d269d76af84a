package etcd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"authrim/persistence"
)

// ErrLeaseLost: this node's lease expired or was revoked; every ownership
// taken under it is gone and the node must stop its grains.
var ErrLeaseLost = errors.New("etcd: node lease lost")

// LeaseConfig describes a node's lease.
type LeaseConfig struct {
	// Node is this node's name, written into every ownership it takes.
	Node string
	// TTL is the lease's time to live: a node that cannot renew it for
	// this long loses every ownership.
	TTL time.Duration
	// GrantTTL, when longer than TTL, is the time to live etcd itself
	// gives the lease: the backstop for a node that died with nobody to
	// revoke its lease. The node judges itself by TTL (Valid, renewals)
	// and its peers revoke a dropped node's lease at once, so etcd's own
	// expiry need not be short; a short one is dangerous: an etcd leader
	// that was paused still holds, on waking up, the renewal times of
	// before its pause, finds every lease older than TTL and revokes them
	// (its proposals reach the new leader once it has stepped down), so
	// the members that kept renewing lose their leases too.
	GrantTTL time.Duration
	// IsDead reports whether the run of node that holds lease is over
	// (the membership dropped it, or it restarted): Acquire then revokes
	// that lease instead of waiting for it to lapse.
	IsDead func(node string, lease int64) bool
	// OnLost runs once, when the lease is lost.
	OnLost func(error)
	Logger *slog.Logger
}

// Lease is a node's etcd lease: the ownerships of its grain activations
// are bound to it (persistence.Owners).
type Lease struct {
	store   *Store
	cfg     LeaseConfig
	id      clientv3.LeaseID
	start   time.Time
	lastAck atomic.Int64 // monotonic ns since start of the last renewal
	lost    atomic.Bool
	lostMu  sync.Once
	cancel  context.CancelFunc
	done    chan struct{}
}

var _ persistence.Owners = (*Lease)(nil)

// validMargin: an ownership is trusted only while the last renewal is
// younger than TTL minus this margin, so a node that was paused stops
// its grains before the others can take them over.
const validMargin = 500 * time.Millisecond

// Grant creates the lease and keeps it alive until Close.
func Grant(ctx context.Context, store *Store, cfg LeaseConfig) (*Lease, error) {
	if cfg.IsDead == nil {
		cfg.IsDead = func(string, int64) bool { return false }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ttl := int64(cfg.TTL / time.Second)
	if ttl < 2 {
		ttl = 2
	}
	grant := max(ttl, int64(cfg.GrantTTL/time.Second))
	g, err := store.cli.Grant(ctx, grant)
	if err != nil {
		return nil, mapErr(ctx, err)
	}
	l := &Lease{store: store, cfg: cfg, id: g.ID, start: time.Now(), done: make(chan struct{})}
	l.cfg.TTL = time.Duration(ttl) * time.Second
	l.lastAck.Store(int64(time.Since(l.start)))
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	ch, err := store.cli.KeepAlive(kctx, g.ID)
	if err != nil {
		cancel()
		return nil, mapErr(ctx, err)
	}
	go l.keepAlive(kctx, ch)
	return l, nil
}

// keepAlive renews the lease through the client's keep-alive stream, and
// besides it with single renewals whenever the stream has been quiet for
// a third of the TTL: etcd answers one stream's renewals in order, so a
// renewal stuck on a leader that just died holds up the others for the
// server's request timeout (7 s), longer than the lease lives.
func (l *Lease) keepAlive(ctx context.Context, ch <-chan *clientv3.LeaseKeepAliveResponse) {
	defer close(l.done)
	probe := time.NewTicker(l.cfg.TTL / 6)
	defer probe.Stop()
	for {
		select {
		case <-ctx.Done():
			return // Close
		case resp, ok := <-ch:
			if !ok {
				// The client gave up on the stream (no answer within the
				// TTL); renew directly, and reopen the stream.
				ch = nil
				if nc, err := l.store.cli.KeepAlive(ctx, l.id); err == nil {
					ch = nc
				}
				continue
			}
			if resp.TTL <= 0 {
				l.markLost(fmt.Errorf("%w: lease %x expired", ErrLeaseLost, int64(l.id)))
				return
			}
			l.lastAck.Store(int64(time.Since(l.start)))
		case <-probe.C:
			if l.age() < l.cfg.TTL/3 {
				continue
			}
			if err := l.renewOnce(ctx); err != nil {
				l.markLost(err)
				return
			}
		}
	}
}

func (l *Lease) age() time.Duration {
	return time.Since(l.start) - time.Duration(l.lastAck.Load())
}

// renewOnce renews the lease with a call of its own, retrying until the
// lease would have lapsed. It fails only when the lease is gone (or could
// not be renewed in time, which amounts to the same).
func (l *Lease) renewOnce(ctx context.Context) error {
	for l.age() < l.cfg.TTL {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		resp, err := l.store.cli.KeepAliveOnce(actx, l.id)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil // Close
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			return fmt.Errorf("%w: lease %x revoked or expired", ErrLeaseLost, int64(l.id))
		case err == nil && resp.TTL > 0:
			l.lastAck.Store(int64(time.Since(l.start)))
			return nil
		case l.store.cli.Ctx().Err() != nil:
			return nil // the client was closed: the node is stopping
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%w: lease %x not renewed within its TTL", ErrLeaseLost, int64(l.id))
}

func (l *Lease) markLost(err error) {
	l.lostMu.Do(func() {
		l.lost.Store(true)
		l.cfg.Logger.Error("node lease lost: fencing this node", "lease", fmt.Sprintf("%x", int64(l.id)), "err", err)
		if l.cfg.OnLost != nil {
			go l.cfg.OnLost(err)
		}
	})
}

// ID is the lease id (peers revoke it when they drop this node).
func (l *Lease) ID() int64 { return int64(l.id) }

// Valid reports whether the lease is held as far as this node can tell.
func (l *Lease) Valid() bool {
	if l.lost.Load() {
		return false
	}
	return l.age() < l.cfg.TTL-validMargin
}

// Revoke revokes another node's lease (the membership dropped it): its
// ownerships vanish at once and its stale writes are fenced.
func (l *Lease) Revoke(ctx context.Context, id int64) error {
	if id == 0 || clientv3.LeaseID(id) == l.id {
		return nil
	}
	err := retrying(ctx, func(ctx context.Context) error {
		_, err := l.store.cli.Revoke(ctx, clientv3.LeaseID(id))
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return nil // revoked already (or lapsed)
		}
		return err
	})
	return mapErr(ctx, err)
}

// Close revokes the lease: a node leaving on purpose frees its grains at
// once instead of after the TTL.
func (l *Lease) Close(ctx context.Context) error {
	l.cancel()
	<-l.done
	_, err := l.store.cli.Revoke(ctx, l.id)
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return mapErr(ctx, err)
	}
	return nil
}

func (l *Lease) ownerKey(name string) string { return l.store.root + "o/" + name }

// Holder returns the node holding name, or "" if nobody does.
func (l *Lease) Holder(ctx context.Context, name string) (string, error) {
	var resp *clientv3.GetResponse
	err := retrying(ctx, func(ctx context.Context) (err error) {
		resp, err = l.store.cli.Get(ctx, l.ownerKey(name))
		return err
	})
	if err != nil {
		return "", mapErr(ctx, err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	node, _, _ := strings.Cut(string(resp.Kvs[0].Value), "#")
	return node, nil
}

// Acquire implements persistence.Owners.
func (l *Lease) Acquire(ctx context.Context, name string) (persistence.Owned, error) {
	key := l.ownerKey(name)
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	token := l.cfg.Node + "#" + hex.EncodeToString(nonce[:])
	cli := l.store.cli
	for {
		if !l.Valid() {
			return nil, fmt.Errorf("%w: %s: this node's lease is not valid", persistence.ErrFenced, name)
		}
		// Repeating this is harmless: if an attempt that timed out did
		// commit, the next one finds the key under this node's lease
		// and takes it over below.
		var resp *clientv3.TxnResponse
		err := retrying(ctx, func(ctx context.Context) (err error) {
			resp, err = cli.Txn(ctx).
				If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
				Then(clientv3.OpPut(key, token, clientv3.WithLease(l.id))).
				Else(clientv3.OpGet(key)).Commit()
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: %s: %w", persistence.ErrConflict, name, ctx.Err())
			}
			return nil, mapErr(ctx, err)
		}
		if resp.Succeeded {
			return &owned{lease: l, key: key, token: token}, nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			continue // released in between
		}
		cur := kvs[0]
		holder, _, _ := strings.Cut(string(cur.Value), "#")
		switch {
		case clientv3.LeaseID(cur.Lease) == l.id:
			// Left behind by an earlier activation on this node (one
			// node activates an identity once): take it over.
			var r *clientv3.TxnResponse
			err := retrying(ctx, func(ctx context.Context) (err error) {
				r, err = cli.Txn(ctx).
					If(clientv3.Compare(clientv3.ModRevision(key), "=", cur.ModRevision)).
					Then(clientv3.OpPut(key, token, clientv3.WithLease(l.id))).Commit()
				return err
			})
			if err != nil {
				return nil, mapErr(ctx, err)
			}
			if r.Succeeded {
				return &owned{lease: l, key: key, token: token}, nil
			}
		case holder == l.cfg.Node || l.cfg.IsDead(holder, cur.Lease):
			// A dropped node, or an earlier run of this one or of a
			// restarted peer: its lease guards nothing live.
			l.cfg.Logger.Warn("revoking the lease of a dropped node", "node", holder, "for", name)
			if err := l.Revoke(ctx, cur.Lease); err != nil {
				return nil, err
			}
		default:
			// A live node still holds it; it lets go when the topology
			// moves the grain away (or its lease lapses).
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %s is held by %s: %w", persistence.ErrConflict, name, holder, ctx.Err())
			case <-time.After(25 * time.Millisecond):
			}
		}
	}
}

type owned struct {
	lease *Lease
	key   string
	token string
}

func (o *owned) Store() persistence.Backend { return o.lease.store.fenced(o.key, o.token) }
func (o *owned) Valid() bool                { return o.lease.Valid() }

func (o *owned) Release(ctx context.Context) error {
	err := retrying(ctx, func(ctx context.Context) error {
		_, err := o.lease.store.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.Value(o.key), "=", o.token)).
			Then(clientv3.OpDelete(o.key)).Commit()
		return err
	})
	return mapErr(ctx, err)
}

// StopRenewing stops the keep-alive without revoking: the lease lapses
// after its TTL, as with a crashed process (tests).
func (l *Lease) StopRenewing() {
	l.cancel()
	<-l.done
}
