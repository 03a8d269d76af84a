package cluster_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"authrim/cluster"
	"authrim/cluster/pki"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// tlsPair loads node's certificate from a bundle written by pki.
func tlsPair(t *testing.T, dir, node string) (server, client *tls.Config) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, node+".pem"), filepath.Join(dir, node+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := tls.LoadX509KeyPair(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	server = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	client = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: pool}
	return server, client
}

func member(t *testing.T, name, listen string, peers []string, server, client *tls.Config) *cluster.Node {
	t.Helper()
	n, err := cluster.Start(cluster.Config{
		Name: "tls-test", Listen: listen, RequestTimeout: 2 * time.Second, NodeName: name, Peers: peers,
		HeartbeatInterval: 100 * time.Millisecond, FailureTimeout: 500 * time.Millisecond,
		ServerTLS: server, ClientTLS: client,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Shutdown)
	return n
}

// Members with certificates from the cluster CA see each other over
// mutual TLS; a member whose certificate comes from another CA is never
// let in, and sees nobody.
func TestMutualTLSKeepsOutOtherCAs(t *testing.T) {
	ours, theirs := t.TempDir(), t.TempDir()
	if err := pki.WriteBundle(ours, 2, nil); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteBundle(theirs, 3, nil); err != nil {
		t.Fatal(err)
	}
	a1, a2, a3 := freeAddr(t), freeAddr(t), freeAddr(t)
	s1, c1 := tlsPair(t, ours, "node1")
	s2, c2 := tlsPair(t, ours, "node2")
	s3, c3 := tlsPair(t, theirs, "node3")
	n1 := member(t, "node1", a1, []string{a2, a3}, s1, c1)
	n2 := member(t, "node2", a2, []string{a1, a3}, s2, c2)
	n3 := member(t, "node3", a3, []string{a1, a2}, s3, c3)

	deadline := time.Now().Add(10 * time.Second)
	for !(slices.Equal(n1.Members(), []string{"node1", "node2"}) && slices.Equal(n2.Members(), []string{"node1", "node2"})) {
		if time.Now().After(deadline) {
			t.Fatalf("node1 sees %v, node2 sees %v; want each other", n1.Members(), n2.Members())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Several heartbeat rounds later the intruder is still out.
	time.Sleep(time.Second)
	for _, n := range []*cluster.Node{n1, n2} {
		if slices.Contains(n.Members(), "node3") {
			t.Fatalf("a member with another CA's certificate joined: %v", n.Members())
		}
	}
	if got := n3.Members(); !slices.Equal(got, []string{"node3"}) {
		t.Fatalf("the intruder sees %v", got)
	}
}
