package node_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"authrim/node"
	"authrim/persistence/etcd"
)

// A node on an existing etcd cluster (storage.etcd.embed: false): the
// whole sign-in, token, userinfo, refresh, introspection, revocation and
// logout life of a grant runs with its state in etcd, grains fenced by
// the node's lease.
func TestNodeOnExternalEtcd(t *testing.T) {
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := etcd.StartMember(ctx, etcd.MemberConfig{
		Name: "external", Dir: filepath.Join(t.TempDir(), "etcd"), PeerListen: free(), ClientListen: free(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	o := startOPWith(t, func(c *node.Config) {
		c.Storage.Backend = node.BackendEtcd
		c.Storage.Etcd.Embed = false
		c.Storage.Etcd.Endpoints = []string{m.Endpoint()}
	})
	st, err := o.n.Status(context.Background())
	if err != nil || st.Storage != node.BackendEtcd || st.KeyManagerNode != "node1" || len(st.Etcd) != 1 {
		t.Fatalf("status: %+v %v", st, err)
	}
	signInWithGoOIDC(t, o)
}
