package clustertest

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"authrim/internal/eventually"
)

// etcdAdd runs the runbook's `authrim cluster etcd-add` for m on a
// running member and returns the initial_cluster line it prints. etcd
// refuses a new member until its leader has seen the others healthy for
// a few seconds ("unhealthy cluster"): it is retried.
func (tc *testCluster) etcdAdd(on, m *member) string {
	tc.t.Helper()
	var out string
	eventually.OK(tc.t, 0, "etcd-add "+m.name, func() error {
		b, err := exec.Command(bin, "cluster", "etcd-add", "--name", m.name, "--peer-url", "https://"+m.peer,
			"--server", on.url(), "--admin-token", adminToken).CombinedOutput()
		out = string(b)
		if err != nil {
			return fmt.Errorf("%v: %s", err, b)
		}
		return nil
	})
	_, initial, ok := strings.Cut(out, "initial_cluster: ")
	if !ok {
		tc.t.Fatalf("etcd-add printed no initial_cluster: %s", out)
	}
	return strings.TrimSpace(initial)
}

// join adds a new member the runbook's way: etcd-add on a running
// member, then start it with state: existing and no cluster.peers.
func (tc *testCluster) join(name string) *member {
	tc.t.Helper()
	m := tc.newMember(name)
	initial := tc.etcdAdd(tc.members[0], m)
	tc.writeConfig(m, initial, nil)
	tc.setState(m, "existing")
	tc.members = append(tc.members, m)
	tc.start(m)
	tc.waitReady(m, 90*time.Second)
	return m
}

// viewsAre waits until every running member in on sees exactly names.
func (tc *testCluster) viewsAre(on []*member, names ...string) {
	tc.t.Helper()
	slices.Sort(names)
	eventually.OK(tc.t, 0, fmt.Sprintf("every member sees %v", names), func() error {
		for _, m := range on {
			st := tc.status(m)
			got := slices.Clone(st.Members)
			slices.Sort(got)
			if !slices.Equal(got, names) {
				return fmt.Errorf("%s sees %v", m.name, got)
			}
			for _, p := range st.Peers {
				if !slices.Contains(names, p.Node) {
					return fmt.Errorf("%s still knows %s", m.name, p.Node)
				}
			}
		}
		return nil
	})
}

// TestMembersJoinThroughEtcd: with no cluster.peers at all, three members
// find each other through the registry in etcd; a fourth joins with
// etcd-add and a start (no restart of the others), gets grains placed on
// it; killed, its lease ends and it leaves every view; started again, it
// is back; stopped and removed, the others serve everything it held.
func TestMembersJoinThroughEtcd(t *testing.T) {
	tc := startWith(t, clusterOpts{nodes: 3, backend: "etcd", certs: 4})
	first := slices.Clone(tc.members)
	pids := map[string]int{}
	for _, m := range first {
		pids[m.name] = m.cmd.Process.Pid
	}
	tc.viewsAre(first, "node1", "node2", "node3")

	node4 := tc.join("node4")
	joined := time.Now()
	tc.viewsAre(tc.members, "node1", "node2", "node3", "node4")
	// Sessions made anywhere now land on node4 too (rendezvous hashing
	// over the four): sign in until one does.
	var accounts []*account
	for len(accounts) < 40 && tc.status(node4).Grains["Session"] == 0 {
		accounts = append(accounts, seedAccounts(t, tc, first, 1)...)
	}
	if tc.status(node4).Grains["Session"] == 0 {
		t.Fatalf("no session placed on node4 after %d sign-ins", len(accounts))
	}
	t.Logf("node4 hosts sessions after %d sign-ins", len(accounts))
	checkAccounts(t, tc.members, accounts)

	// kill -9: the others drop it, revoke its lease, and with it its
	// registration: it leaves every view (status no longer lists it).
	// (A run in its first seconds is not revoked for a silence: its
	// lease would lapse only at etcd's backstop; see membership.go.)
	eventually.True(t, "node4 past its first seconds", func() bool { return time.Since(joined) > 6*time.Second })
	tc.kill(node4)
	tc.viewsAre(first, "node1", "node2", "node3")
	checkAccounts(t, first, accounts)

	// Started again (same data), it joins again without any restart.
	restartAndRejoin(t, tc, node4)
	tc.viewsAre(tc.members, "node1", "node2", "node3", "node4")
	checkAccounts(t, tc.members, accounts)

	// Removed for good: stopped (SIGTERM, it hands its grains over),
	// then its etcd member removed.
	if err := node4.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-node4.exited
	if node4.err != nil {
		t.Fatalf("node4 did not stop cleanly: %v\n%s", node4.err, tail(node4.log.String(), 20))
	}
	tc.members = first
	tc.viewsAre(first, "node1", "node2", "node3")
	tc.cli(first[0], nil, "cluster", "etcd-remove", "node4")
	eventually.OK(t, 0, "three etcd members", func() error {
		if st := tc.status(first[1]); len(st.Etcd) != 3 {
			return fmt.Errorf("etcd members %v", st.Etcd)
		}
		return nil
	})
	checkAccounts(t, first, accounts)
	// None of the first three was restarted.
	for _, m := range first {
		select {
		case <-m.exited:
			t.Fatalf("%s exited: %v", m.name, m.err)
		default:
		}
		if m.cmd.Process.Pid != pids[m.name] {
			t.Fatalf("%s was restarted", m.name)
		}
	}
}
