package node

import (
	"authrim/actors/delivery"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/cluster"
	"authrim/persistence"
	"authrim/persistence/etcd"
)

// ErrFenced: this node lost its lease (it was paused or cut off long
// enough for the others to drop it); it stops rather than risk serving a
// grain that is live elsewhere.
var ErrFenced = errors.New("node: fenced")

// clusterTLS loads cluster.tls: both sides of mutual TLS, trusting only
// the cluster CA.
func (c Config) clusterTLS() (server, client *tls.Config, err error) {
	t := c.Cluster.TLS
	if !t.Enabled() {
		return nil, nil, nil
	}
	caPEM, err := os.ReadFile(t.CA)
	if err != nil {
		return nil, nil, fmt.Errorf("node: cluster.tls.ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, fmt.Errorf("node: cluster.tls.ca: no certificate in %s", t.CA)
	}
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("node: cluster.tls cert/key: %w", err)
	}
	server = &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
	}
	client = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: pool}
	return server, client, nil
}

// etcd's own expiry of a node lease (etcd.LeaseConfig.GrantTTL): this
// many times cluster.lease_ttl, and at least LeaseBackstopMin.
const (
	LeaseBackstopFactor = 12
	LeaseBackstopMin    = time.Minute
)

// startLease grants the node's etcd lease, which binds every grain
// ownership this node takes. Losing it fences the node.
func (n *Node) startLease(ctx context.Context) (persistence.Owners, error) {
	if n.etcd == nil {
		return nil, nil // bbolt: one node, the file lock fences
	}
	l, err := etcd.Grant(ctx, n.etcd, etcd.LeaseConfig{
		Node: n.cfg.Cluster.NodeName,
		TTL:  n.cfg.Cluster.LeaseTTL.D(),
		// See etcd.LeaseConfig.GrantTTL: a paused etcd leader must not
		// find the others' leases expired when it wakes up.
		GrantTTL: max(LeaseBackstopFactor*n.cfg.Cluster.LeaseTTL.D(), LeaseBackstopMin),
		IsDead: func(node string, lease int64) bool {
			a := n.actorsRef.Load()
			return a != nil && a.IsDead(node, lease)
		},
		OnLost: func(err error) {
			select {
			case n.fenced <- fmt.Errorf("%w: %w", ErrFenced, err):
			default:
			}
		},
		Logger: n.logger.With("component", "lease"),
	})
	if err != nil {
		return nil, fmt.Errorf("node: etcd lease: %w", err)
	}
	n.lease = l
	return l, nil
}

// onPeerDropped revokes the lease of a member the topology dropped: its
// grains can move at once, and if it is only paused, everything it still
// runs is fenced when it wakes up.
func (n *Node) onPeerDropped(p cluster.Peer) {
	if n.lease == nil || p.LeaseID == 0 || !n.lease.Valid() {
		return // a node unsure of its own lease judges nobody
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := n.lease.Revoke(ctx, p.LeaseID); err != nil {
		n.logger.Warn("revoking a dropped member's lease failed", "node", p.Node, "err", err)
		return
	}
	n.logger.Warn("revoked a dropped member's lease", "node", p.Node)
}

// Fenced yields an error once this node lost its lease and must stop.
func (n *Node) Fenced() <-chan error { return n.fenced }

// ClusterStatus is what `authrim cluster status` shows.
type ClusterStatus struct {
	Node    string       `json:"node"`
	Storage string       `json:"storage"`
	Members []string     `json:"members"`
	Peers   []PeerStatus `json:"peers"`
	// KeyManagerNode holds the KeyManager's ownership (etcd), or this node.
	KeyManagerNode string `json:"key_manager_node"`
	// DeliveryNode holds the Delivery grain's ownership (etcd; on one
	// node: this node), empty when no member runs it yet.
	DeliveryNode string `json:"delivery_node"`
	// OutboxPending counts messages waiting for delivery or a retry.
	OutboxPending int `json:"outbox_pending"`
	// Grains counts the grains active on this node, by kind.
	Grains     map[string]int `json:"grains"`
	Etcd       []EtcdMember   `json:"etcd,omitempty"`
	EtcdLeader string         `json:"etcd_leader,omitempty"`
}

// PeerStatus is a configured peer as this node sees it.
type PeerStatus struct {
	Node       string `json:"node"`
	Address    string `json:"address"`
	Alive      bool   `json:"alive"`
	LastSeenMs int64  `json:"last_seen_ms_ago"`
}

// EtcdMember is one etcd member and its health.
type EtcdMember struct {
	Name       string   `json:"name"`
	ID         string   `json:"id"`
	ClientURLs []string `json:"client_urls"`
	Healthy    bool     `json:"healthy"`
	Leader     bool     `json:"leader"`
	Error      string   `json:"error,omitempty"`
}

// Status reports the cluster as this node sees it.
func (n *Node) Status(ctx context.Context) (*ClusterStatus, error) {
	st := &ClusterStatus{Node: n.cfg.Cluster.NodeName, Storage: n.cfg.Storage.Backend, Members: n.actors.Members()}
	alive := map[string]bool{}
	for _, m := range st.Members {
		alive[m] = true
	}
	for _, p := range n.actors.Peers() {
		st.Peers = append(st.Peers, PeerStatus{Node: p.Node, Address: p.Address, Alive: alive[p.Node], LastSeenMs: time.Since(p.LastSeen).Milliseconds()})
	}
	st.Grains = n.actors.ActiveGrains()
	st.KeyManagerNode, st.DeliveryNode = n.cfg.Cluster.NodeName, n.cfg.Cluster.NodeName
	pending, err := n.OutboxLen(ctx)
	if err != nil {
		return nil, err
	}
	st.OutboxPending = pending
	if n.lease == nil {
		return st, nil
	}
	holder, err := n.lease.Holder(ctx, "KeyManager/default")
	if err != nil {
		return nil, err
	}
	st.KeyManagerNode = holder
	if st.DeliveryNode, err = n.lease.Holder(ctx, delivery.Kind+"/"+delivery.Identity); err != nil {
		return nil, err
	}
	cli := n.etcdClient()
	ml, err := cli.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("node: etcd members: %w", err)
	}
	for _, m := range ml.Members {
		em := EtcdMember{Name: m.Name, ID: fmt.Sprintf("%x", m.ID), ClientURLs: m.ClientURLs}
		if len(m.ClientURLs) > 0 {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			s, err := cli.Status(sctx, m.ClientURLs[0])
			cancel()
			if err != nil {
				em.Error = err.Error()
			} else {
				em.Healthy = len(s.Errors) == 0
				em.Leader = s.Leader == m.ID
				if s.Leader == m.ID {
					st.EtcdLeader = m.Name
				}
			}
		}
		st.Etcd = append(st.Etcd, em)
	}
	return st, nil
}

// clusterOps serves the cluster admin routes.
type clusterOps struct{ n *Node }

func (o clusterOps) Status(c echo.Context) (any, error) { return o.n.Status(c.Request().Context()) }

// errNoEtcd: the node does not run on etcd.
var errNoEtcd = errors.New("node: storage is not etcd")

func (o clusterOps) AddEtcdMember(c echo.Context, name, peerURL string) (string, error) {
	cli := o.n.etcdClient()
	if cli == nil {
		return "", errNoEtcd
	}
	ctx := c.Request().Context()
	resp, err := cli.MemberAdd(ctx, []string{peerURL})
	if err != nil {
		return "", err
	}
	var parts []string
	for _, m := range resp.Members {
		n := m.Name
		if m.ID == resp.Member.ID {
			n = name // not started yet: no name until it joins
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, n+"="+u)
		}
	}
	return strings.Join(parts, ","), nil
}

func (o clusterOps) RemoveEtcdMember(c echo.Context, name string) error {
	cli := o.n.etcdClient()
	if cli == nil {
		return errNoEtcd
	}
	ctx := c.Request().Context()
	ml, err := cli.MemberList(ctx)
	if err != nil {
		return err
	}
	for _, m := range ml.Members {
		if m.Name == name {
			_, err := cli.MemberRemove(ctx, m.ID)
			return err
		}
	}
	return fmt.Errorf("no etcd member named %q", name)
}
