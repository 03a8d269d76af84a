package node_test

import (
	"strings"
	"testing"
	"time"

	"authrim/node"
)

// TestOtherPeers: the node never counts itself among its peers.
func TestOtherPeers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		peers []string
		want  []string
	}{
		{"others only", []string{"a:1", "b:1"}, []string{"a:1", "b:1"}},
		{"itself listed", []string{"a:1", "self:1", "b:1"}, []string{"a:1", "b:1"}},
		{"itself alone", []string{"self:1"}, []string{}},
		{"same host, other port", []string{"self:2"}, []string{"self:2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := node.ClusterConfig{Listen: "self:1", Peers: tc.peers}
			got := c.OtherPeers()
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("OtherPeers = %v, want %v", got, tc.want)
			}
			if len(c.Peers) != len(tc.peers) {
				t.Error("OtherPeers changed cluster.peers")
			}
		})
	}
}

// TestClusterConfigValidation: storage, cluster and crypto settings are
// checked together (a node set needs etcd; remote crypto needs a peer).
func TestClusterConfigValidation(t *testing.T) {
	cluster := func(c *node.Config) {
		c.Storage.Backend = node.BackendEtcd
		c.Cluster.Listen = "127.0.0.1:7001"
		c.Cluster.Peers = []string{"127.0.0.1:7002", "127.0.0.1:7003"}
		c.Cluster.TLS = node.TLSConfig{CA: "ca.pem", Cert: "node1.pem", Key: "node1-key.pem"}
	}
	plaintext := func(c *node.Config) { cluster(c); c.Cluster.TLS = node.TLSConfig{} }
	checkValidation(t, []validationCase{
		{"defaults", func(*node.Config) {}, ""},
		{"a cluster", cluster, ""},
		{"peers on bbolt", func(c *node.Config) { cluster(c); c.Storage.Backend = node.BackendBbolt }, "storage.backend"},
		{"unknown backend", func(c *node.Config) { c.Storage.Backend = "sqlite" }, "storage.backend"},
		{"peers with port 0", func(c *node.Config) { cluster(c); c.Cluster.Listen = "127.0.0.1:0" }, "cluster.listen"},
		// One list for every member (a StatefulSet's shared config).
		{"itself among the peers", func(c *node.Config) { cluster(c); c.Cluster.Peers = append(c.Cluster.Peers, "127.0.0.1:7001") }, ""},
		{"remote crypto on itself", func(c *node.Config) {
			cluster(c)
			c.Cluster.Peers = append(c.Cluster.Peers, "127.0.0.1:7001")
			c.Crypto.Mode, c.Crypto.Remote = node.CryptoRemote, "127.0.0.1:7001"
		}, "crypto.remote"},
		{"bad peer", func(c *node.Config) { cluster(c); c.Cluster.Peers = []string{"nohost"} }, "cluster.peers"},
		{"initial cluster without this member", func(c *node.Config) {
			cluster(c)
			c.Storage.Etcd.InitialCluster = "other=https://127.0.0.1:2380"
		}, "storage.etcd.initial_cluster"},
		{"bad etcd state", func(c *node.Config) { cluster(c); c.Storage.Etcd.State = "old" }, "storage.etcd.state"},
		{"external etcd without endpoints", func(c *node.Config) { cluster(c); c.Storage.Etcd.Embed = false }, "storage.etcd.endpoints"},
		{"short lease", func(c *node.Config) { c.Cluster.LeaseTTL = node.Duration(time.Second) }, "cluster.lease_ttl"},
		{"failure timeout under two heartbeats", func(c *node.Config) { c.Cluster.FailureTimeout = c.Cluster.HeartbeatInterval }, "cluster"},
		{"half a TLS config", func(c *node.Config) { c.Cluster.TLS.CA = "ca.pem" }, "cluster.tls"},
		{"inline crypto", func(c *node.Config) { c.Crypto.Mode = node.CryptoInline }, ""},
		{"remote crypto on a peer", func(c *node.Config) {
			cluster(c)
			c.Crypto.Mode, c.Crypto.Remote = node.CryptoRemote, "127.0.0.1:7002"
		}, ""},
		{"remote crypto not on a peer", func(c *node.Config) {
			cluster(c)
			c.Crypto.Mode, c.Crypto.Remote = node.CryptoRemote, "127.0.0.1:9999"
		}, "crypto.remote"},
		{"remote address without remote mode", func(c *node.Config) { c.Crypto.Remote = "127.0.0.1:7002" }, "crypto.remote"},
		{"unknown crypto mode", func(c *node.Config) { c.Crypto.Mode = "gpu" }, "crypto.mode"},
		{"local crypto", func(c *node.Config) { c.Crypto.Mode = node.CryptoLocal }, ""},
		// Cluster traffic is mutual TLS, or plaintext only on loopback
		// behind the explicit opt-in.
		{"plaintext loopback cluster", plaintext, "cluster.tls"},
		{"plaintext loopback cluster, opted in", func(c *node.Config) { plaintext(c); c.Cluster.InsecureLoopback = true }, ""},
		{"plaintext etcd alone", func(c *node.Config) { c.Storage.Backend = node.BackendEtcd }, "cluster.tls"},
		{"plaintext etcd alone, opted in", func(c *node.Config) {
			c.Storage.Backend = node.BackendEtcd
			c.Cluster.InsecureLoopback = true
		}, ""},
		{"plaintext cluster on a LAN address", func(c *node.Config) {
			plaintext(c)
			c.Cluster.InsecureLoopback = true
			c.Cluster.Listen = "10.0.0.1:7001"
		}, "cluster.tls"},
		{"plaintext peer off the machine", func(c *node.Config) {
			plaintext(c)
			c.Cluster.InsecureLoopback = true
			c.Cluster.Peers = []string{"192.168.1.2:7002"}
		}, "cluster.tls"},
		{"plaintext etcd peer URL off the machine", func(c *node.Config) {
			plaintext(c)
			c.Cluster.InsecureLoopback = true
			c.Storage.Etcd.InitialCluster = "node1=http://127.0.0.1:2380,node2=http://etcd2.internal:2380"
		}, "cluster.tls"},
		{"plaintext external etcd off the machine", func(c *node.Config) {
			c.Storage.Backend = node.BackendEtcd
			c.Cluster.InsecureLoopback = true
			c.Storage.Etcd.Embed = false
			c.Storage.Etcd.Endpoints = []string{"http://etcd.internal:2379"}
		}, "cluster.tls"},
		{"etcd client port on all interfaces", func(c *node.Config) {
			plaintext(c)
			c.Cluster.InsecureLoopback = true
			c.Storage.Etcd.ClientListen = "0.0.0.0:2379"
		}, "cluster.tls"},
		{"insecure_loopback with TLS", func(c *node.Config) { cluster(c); c.Cluster.InsecureLoopback = true }, "cluster.insecure_loopback"},
		{"non-loopback cluster with TLS", func(c *node.Config) {
			cluster(c)
			c.Cluster.Listen = "10.0.0.1:7001"
			c.Cluster.Peers = []string{"10.0.0.2:7001", "10.0.0.3:7001"}
		}, ""},
	})
}

// TestRuntimeConfigValidation: the GC target stays in a sane range (0
// would collect constantly, an unbounded one never).
func TestRuntimeConfigValidation(t *testing.T) {
	checkValidation(t, []validationCase{
		{"gc_percent 400", func(c *node.Config) { c.Runtime.GCPercent = 400 }, ""},
		{"gc_percent 0", func(c *node.Config) { c.Runtime.GCPercent = 0 }, "runtime.gc_percent"},
		{"gc_percent off", func(c *node.Config) { c.Runtime.GCPercent = -1 }, "runtime.gc_percent"},
		{"gc_percent huge", func(c *node.Config) { c.Runtime.GCPercent = 5000 }, "runtime.gc_percent"},
	})
}

// validationCase adjusts the defaults and names the key whose problem
// Validate must report ("" = valid).
type validationCase struct {
	name   string
	adjust func(*node.Config)
	want   string
}

func checkValidation(t *testing.T, cases []validationCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := node.Default()
			tc.adjust(&c)
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want a problem with %s", err, tc.want)
			}
		})
	}
}

// TestOperatorConfigValidation: the admin listener stays on loopback (its
// token is plaintext), trusted proxies are addresses, and sign-in
// throttling is a sane backoff.
func TestOperatorConfigValidation(t *testing.T) {
	checkValidation(t, []validationCase{
		{"admin listener on loopback", func(c *node.Config) { c.Admin.Token = "0123456789abcdef"; c.Admin.Listen = "127.0.0.1:9091" }, ""},
		{"admin listener off the machine", func(c *node.Config) { c.Admin.Token = "0123456789abcdef"; c.Admin.Listen = "0.0.0.0:9091" }, "admin.listen"},
		{"admin listener without a token", func(c *node.Config) { c.Admin.Listen = "127.0.0.1:9091" }, "admin.listen"},
		{"admin listener on the public port", func(c *node.Config) {
			c.Admin.Token = "0123456789abcdef"
			c.Admin.Listen = c.HTTP.Listen
		}, "admin.listen"},
		{"console url", func(c *node.Config) { c.Admin.ConsoleURL = "https://admin.example.com" }, ""},
		{"console url with a path", func(c *node.Config) { c.Admin.ConsoleURL = "https://admin.example.com/x" }, "admin.console_url"},
		{"console url not http", func(c *node.Config) { c.Admin.ConsoleURL = "ftp://admin.example.com" }, "admin.console_url"},
		{"trusted proxies", func(c *node.Config) { c.HTTP.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.10", "::1"} }, ""},
		{"trusted proxy not an address", func(c *node.Config) { c.HTTP.TrustedProxies = []string{"proxy.internal"} }, "http.trusted_proxies"},
		{"sign-in delay without a window", func(c *node.Config) { c.RateLimit.SignIn.PerUsername.Window = 0 }, "rate_limit.signin.per_username"},
		{"sign-in base delay over the max", func(c *node.Config) {
			c.RateLimit.SignIn.PerAddress.BaseDelay = node.Duration(time.Hour)
		}, "rate_limit.signin.per_address"},
	})
}
