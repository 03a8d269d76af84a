package node

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"authrim/persistence"
	"authrim/persistence/bbolt"
	"authrim/persistence/etcd"
)

// etcdRoot prefixes every key Authrim writes to etcd.
const etcdRoot = "authrim"

// openStore opens the configured storage backend. The node keeps the bbolt
// store typed too: the admin API snapshots it for backups.
func (n *Node) openStore(ctx context.Context) (persistence.Backend, error) {
	switch n.cfg.Storage.Backend {
	case BackendBbolt:
		store, err := bbolt.Open(n.cfg.Storage.Dir, bbolt.Options{})
		if err != nil {
			return nil, err
		}
		n.store, n.bolt = store, store
		return store, nil
	case BackendEtcd:
		store, err := n.openEtcd(ctx)
		if err != nil {
			return nil, err
		}
		n.store, n.etcd = store, store
		return store, nil
	default:
		return nil, fmt.Errorf("node: storage backend %q is not available", n.cfg.Storage.Backend)
	}
}

// openEtcd starts the embedded member (if configured) and connects to it,
// or connects to the configured etcd cluster.
func (n *Node) openEtcd(ctx context.Context) (*etcd.Store, error) {
	ec := n.cfg.Storage.Etcd
	tlsf := n.cfg.etcdTLS()
	endpoints := ec.Endpoints
	var member *etcd.Member
	if ec.Embed {
		var err error
		member, err = etcd.StartMember(ctx, etcd.MemberConfig{
			Name: n.cfg.EtcdName(), Dir: filepath.Join(n.cfg.Storage.Dir, "etcd"),
			PeerListen: ec.PeerListen, ClientListen: ec.ClientListen,
			InitialCluster: ec.InitialCluster, State: ec.State, Token: n.cfg.Cluster.Name, TLS: tlsf,
			StartTimeout: 2 * time.Minute, LogLevel: ec.LogLevel,
		})
		if err != nil {
			return nil, err
		}
		n.member = member
		// This node's client talks to its own member.
		endpoints = []string{member.Endpoint()}
	}
	cli, err := etcd.Dial(ctx, endpoints, tlsf, ec.DialTimeout.D())
	if err != nil {
		if member != nil {
			member.Close()
		}
		return nil, err
	}
	return etcd.New(cli, etcdRoot, func() error {
		err := cli.Close()
		if member != nil {
			member.Close()
		}
		return err
	}), nil
}

// migrateStore brings the store's records to this binary's schema
// (persistence/schema.go) before anything reads them: it runs after the
// lease (a cluster's nodes migrate one at a time under it) and before the
// directory, the sweeper and the grains start. A store written by a newer
// binary, or a failed migration, stops the start.
func (n *Node) migrateStore(ctx context.Context, owners persistence.Owners) error {
	if err := persistence.Migrate(ctx, n.store, owners, n.logger.With("component", "schema")); err != nil {
		return fmt.Errorf("node: storage schema: %w", err)
	}
	return nil
}

func (c Config) etcdTLS() *etcd.TLSFiles {
	t := c.Cluster.TLS
	if !t.Enabled() {
		return nil
	}
	return &etcd.TLSFiles{CA: t.CA, Cert: t.Cert, Key: t.Key}
}

// etcdClient is the node's etcd client (nil on bbolt).
func (n *Node) etcdClient() *clientv3.Client {
	if n.etcd == nil {
		return nil
	}
	return n.etcd.Client()
}
