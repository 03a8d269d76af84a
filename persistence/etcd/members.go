package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Registration is a running member's entry in the member registry:
// "<root>/m/<node>", written under the member's lease, so it vanishes
// when the lease ends (the member stopped, its lease was revoked by the
// others, or it lapsed).
type Registration struct {
	Node string `json:"node"`
	// Address is the member's actor transport address (host:port), as
	// its peers dial it.
	Address string `json:"address"`
	// MemberID is the run's actor system id: a restart is a new run.
	MemberID string `json:"member_id"`
	Lease    int64  `json:"lease"`
}

func (s *Store) memberKey(node string) string { return s.root + "m/" + node }

// Register writes this member's registration under the lease. A member
// registers once per run (a restart overwrites its previous run's entry,
// binding it to the new lease).
func (l *Lease) Register(ctx context.Context, address, memberID string) error {
	if address == "" || strings.ContainsAny(l.cfg.Node, "/\x00") {
		return fmt.Errorf("etcd: register %q at %q: invalid", l.cfg.Node, address)
	}
	v, err := json.Marshal(Registration{Node: l.cfg.Node, Address: address, MemberID: memberID, Lease: int64(l.id)})
	if err != nil {
		return err
	}
	err = retrying(ctx, func(ctx context.Context) error {
		_, err := l.store.cli.Put(ctx, l.store.memberKey(l.cfg.Node), string(v), clientv3.WithLease(l.id))
		return err
	})
	return mapErr(ctx, err)
}

// Deregister removes this run's registration (a member leaving on
// purpose), so every peer drops it at once instead of after a missed
// heartbeat. It leaves a later run's entry alone.
func (l *Lease) Deregister(ctx context.Context) error {
	key := l.store.memberKey(l.cfg.Node)
	err := retrying(ctx, func(ctx context.Context) error {
		_, err := l.store.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.LeaseValue(key), "=", l.id)).
			Then(clientv3.OpDelete(key)).Commit()
		return err
	})
	return mapErr(ctx, err)
}

// Members returns the registered members and the revision they were read
// at.
func (s *Store) Members(ctx context.Context) (map[string]Registration, int64, error) {
	var resp *clientv3.GetResponse
	err := retrying(ctx, func(ctx context.Context) (err error) {
		resp, err = s.cli.Get(ctx, s.root+"m/", clientv3.WithPrefix())
		return err
	})
	if err != nil {
		return nil, 0, mapErr(ctx, err)
	}
	out := map[string]Registration{}
	for _, kv := range resp.Kvs {
		if r, ok := decodeRegistration(kv.Value); ok {
			out[r.Node] = r
		}
	}
	return out, resp.Header.Revision, nil
}

func decodeRegistration(v []byte) (Registration, bool) {
	var r Registration
	if json.Unmarshal(v, &r) != nil || r.Node == "" || r.Address == "" {
		return Registration{}, false
	}
	return r, true
}

// WatchMembers calls fn with the registered members, then again after
// every change, until ctx ends. A broken watch (etcd compacted past it,
// or the connection was lost) is reopened from a fresh read, so fn always
// gets the whole set.
func (s *Store) WatchMembers(ctx context.Context, fn func([]Registration)) {
	prefix := s.root + "m/"
	for ctx.Err() == nil {
		regs, rev, err := s.Members(ctx)
		if err != nil {
			if ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
			continue
		}
		fn(slices.Collect(maps.Values(regs)))
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		ch := s.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for resp := range ch {
			if err := resp.Err(); err != nil {
				break // reread and rewatch
			}
			changed := false
			for _, ev := range resp.Events {
				node := strings.TrimPrefix(string(ev.Kv.Key), prefix)
				switch ev.Type {
				case clientv3.EventTypeDelete:
					delete(regs, node)
					changed = true
				case clientv3.EventTypePut:
					if r, ok := decodeRegistration(ev.Kv.Value); ok {
						regs[node] = r
						changed = true
					}
				}
			}
			if changed {
				fn(slices.Collect(maps.Values(regs)))
			}
		}
		cancel()
	}
}
