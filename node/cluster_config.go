package node

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Where the front ends' signing and verification run (crypto.mode): the
// seed's topologies.
const (
	// CryptoLocal: this node's Crypto actor pool.
	CryptoLocal = "local"
	// CryptoInline: on the request's goroutine with the node's key
	// cache, no actor hop (the default: BENCHMARKS.md, "Decision").
	CryptoInline = "inline"
	// CryptoRemote: the Crypto pool of another member (crypto.remote).
	CryptoRemote = "remote"
)

// CryptoConfig selects where the front ends' crypto runs.
type CryptoConfig struct {
	Mode string `yaml:"mode"`
	// Remote is the cluster.listen address of the member whose pool
	// signs when mode is remote; it must be one of cluster.peers.
	Remote string `yaml:"remote"`
}

// Storage backends.
const (
	BackendBbolt = "bbolt"
	BackendEtcd  = "etcd"
)

// EtcdConfig is the etcd store: an embedded member of this node, or an
// existing etcd cluster.
type EtcdConfig struct {
	// Embed runs an etcd member inside this node (data under storage.dir).
	Embed bool `yaml:"embed"`
	// Name is the embedded member's name; empty means cluster.node_name.
	Name         string `yaml:"name"`
	PeerListen   string `yaml:"peer_listen"`
	ClientListen string `yaml:"client_listen"`
	// InitialCluster is name=peer-URL,... of the first members; empty
	// means this member alone.
	InitialCluster string `yaml:"initial_cluster"`
	// State is "new" when the cluster is formed, "existing" when this
	// member joins one that runs (after etcdctl member add).
	State string `yaml:"state"`
	// Endpoints of an existing etcd cluster (embed: false).
	Endpoints   []string `yaml:"endpoints"`
	DialTimeout Duration `yaml:"dial_timeout"`
	// LogLevel is how much of the embedded member's own log reaches the
	// node's stderr: error (the default), warn, info or debug.
	LogLevel string `yaml:"log_level"`
}

// TLSConfig is mutual TLS for cluster traffic (actors and etcd): this
// node's certificate and key, and the CA every member's certificate must
// chain to. All empty: plaintext (loopback clusters only).
type TLSConfig struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Enabled reports whether mutual TLS is configured.
func (t TLSConfig) Enabled() bool { return t.CA != "" || t.Cert != "" || t.Key != "" }

// OtherPeers is cluster.peers without this node's own cluster.listen,
// which a list shared by every member includes.
func (c ClusterConfig) OtherPeers() []string {
	return slices.DeleteFunc(slices.Clone(c.Peers), func(p string) bool { return p == c.Listen })
}

// EtcdName is the embedded etcd member's name.
func (c Config) EtcdName() string {
	if c.Storage.Etcd.Name != "" {
		return c.Storage.Etcd.Name
	}
	return c.Cluster.NodeName
}

// clusterProblems checks storage and cluster settings together: a node
// set shares one store, so peers need etcd.
func (c Config) clusterProblems(add func(key, format string, args ...any)) {
	switch c.Storage.Backend {
	case BackendBbolt:
		if len(c.Cluster.Peers) > 0 {
			add("storage.backend", "must be etcd when cluster.peers is set (bbolt is one node's file)")
		}
	case BackendEtcd:
		e := c.Storage.Etcd
		if e.Embed {
			for key, hp := range map[string]string{"storage.etcd.peer_listen": e.PeerListen, "storage.etcd.client_listen": e.ClientListen} {
				if _, _, err := net.SplitHostPort(hp); err != nil {
					add(key, "must be host:port, got %q", hp)
				}
			}
			if e.State != "new" && e.State != "existing" {
				add("storage.etcd.state", "must be new or existing, got %q", e.State)
			}
			if e.InitialCluster != "" {
				found := false
				for _, m := range strings.Split(e.InitialCluster, ",") {
					name, u, ok := strings.Cut(m, "=")
					if !ok || name == "" || !strings.Contains(u, "://") {
						add("storage.etcd.initial_cluster", "must be name=URL,..., got %q", m)
					}
					found = found || name == c.EtcdName()
				}
				if !found {
					add("storage.etcd.initial_cluster", "must list this member (%s)", c.EtcdName())
				}
			}
		} else if len(e.Endpoints) == 0 {
			add("storage.etcd.endpoints", "must list the etcd cluster when embed is false")
		}
		if e.DialTimeout <= 0 {
			add("storage.etcd.dial_timeout", "must be positive")
		}
		if !slices.Contains([]string{"error", "warn", "info", "debug"}, e.LogLevel) {
			add("storage.etcd.log_level", "must be error, warn, info or debug, got %q", e.LogLevel)
		}
	default:
		add("storage.backend", "must be bbolt or etcd, got %q", c.Storage.Backend)
	}
	cl := c.Cluster
	for _, p := range cl.Peers {
		if h, port, err := net.SplitHostPort(p); err != nil || h == "" || port == "0" {
			add("cluster.peers", "%q must be host:port of a member's cluster.listen", p)
		}
	}
	// cluster.peers may list this node's own cluster.listen (it is
	// skipped: OtherPeers), so that every member can share one list, as
	// the members of a Kubernetes StatefulSet must.
	if len(cl.Peers) > 0 {
		if _, port, err := net.SplitHostPort(cl.Listen); err == nil && port == "0" {
			add("cluster.listen", "needs a fixed port when cluster.peers is set (peers dial it)")
		}
	}
	if cl.Advertise != "" {
		if h, port, err := net.SplitHostPort(cl.Advertise); err != nil || h == "" || port == "0" || net.ParseIP(h) != nil && net.ParseIP(h).IsUnspecified() {
			add("cluster.advertise", "must be host:port that the other members can dial, got %q", cl.Advertise)
		}
	}
	if cl.HeartbeatInterval <= 0 || cl.FailureTimeout < 2*cl.HeartbeatInterval {
		add("cluster", "heartbeat_interval must be positive and failure_timeout at least twice it")
	}
	if cl.LeaseTTL.D() < 2*time.Second {
		add("cluster.lease_ttl", "must be at least 2s (etcd's minimum lease)")
	}
	switch c.Crypto.Mode {
	case CryptoLocal, CryptoInline:
		if c.Crypto.Remote != "" {
			add("crypto.remote", "only with crypto.mode: remote")
		}
	case CryptoRemote:
		if !slices.Contains(cl.OtherPeers(), c.Crypto.Remote) {
			add("crypto.remote", "must be one of cluster.peers other than this node, got %q", c.Crypto.Remote)
		}
	default:
		add("crypto.mode", "must be local, inline or remote, got %q", c.Crypto.Mode)
	}
	t := cl.TLS
	if t.Enabled() && (t.CA == "" || t.Cert == "" || t.Key == "") {
		add("cluster.tls", "ca, cert and key must all be set (or none)")
	}
	c.transportProblems(add)
}

// transportProblems enforces that cluster traffic is authenticated. A
// member of a node set listens for actor messages (the Crypto pool signs
// what it is asked) and etcd storage opens peer and client ports (they
// hold every user, client and session): without mutual TLS anyone who
// reaches them owns the provider. So they need cluster.tls, and plaintext
// is possible only with every address on loopback and the explicit
// cluster.insecure_loopback. A node alone on bbolt opens neither.
func (c Config) transportProblems(add func(key, format string, args ...any)) {
	cl := c.Cluster
	if cl.TLS.Enabled() {
		if cl.InsecureLoopback {
			add("cluster.insecure_loopback", "must not be set with cluster.tls (remove it)")
		}
		return
	}
	var addrs []string // host:port or URLs that cluster traffic uses
	if len(cl.Peers) > 0 || c.Storage.Backend == BackendEtcd {
		// A member of a node set (on etcd, every node: members register
		// themselves there) listens for actor messages.
		addrs = append(addrs, cl.Listen)
		addrs = append(addrs, cl.Peers...)
		if cl.Advertise != "" {
			addrs = append(addrs, cl.Advertise)
		}
	}
	if c.Storage.Backend == BackendEtcd {
		e := c.Storage.Etcd
		if e.Embed {
			addrs = append(addrs, e.PeerListen, e.ClientListen)
			if e.InitialCluster != "" {
				for _, m := range strings.Split(e.InitialCluster, ",") {
					_, u, _ := strings.Cut(m, "=")
					addrs = append(addrs, u)
				}
			}
		} else {
			addrs = append(addrs, e.Endpoints...)
		}
	}
	if len(addrs) == 0 {
		return
	}
	var public []string
	for _, a := range addrs {
		if !isLoopbackAddr(a) {
			public = append(public, a)
		}
	}
	switch {
	case len(public) > 0:
		add("cluster.tls", "must be set: cluster and etcd traffic to %s would be plaintext and unauthenticated off this machine (authrim cluster certs makes the files)", strings.Join(public, ", "))
	case !cl.InsecureLoopback:
		add("cluster.tls", "must be set for a node set or etcd storage: without it any local user can reach the actor and etcd ports (authrim cluster certs makes the files; for a local experiment only, cluster.insecure_loopback: true allows plaintext on loopback)")
	}
}

// isLoopbackAddr reports whether a host:port or URL names a loopback
// host. Anything it cannot parse counts as not loopback.
func isLoopbackAddr(a string) bool {
	if u, err := url.Parse(a); err == nil && u.Host != "" && strings.Contains(a, "://") {
		return isLoopbackHost(u.Hostname())
	}
	h, _, err := net.SplitHostPort(a)
	return err == nil && isLoopbackHost(h)
}
