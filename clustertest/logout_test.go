package clustertest

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"authrim/internal/eventually"
	"authrim/internal/logoutrp"
)

// A back-channel logout outlives the member delivering it: the RP
// refuses (500) until the member running the Delivery grain is killed
// with SIGKILL mid-retry; another member takes the grain over from the
// outbox in etcd and the RP accepts exactly one logout token. The killed
// member restarts and sends nothing more.
func TestBackchannelLogoutSurvivesKillOfDeliveringMember(t *testing.T) {
	rp := logoutrp.Start(t, "", "rp", 0)
	tc := startWith(t, clusterOpts{nodes: 3, backend: "etcd", staticPeers: true,
		rpExtra: "    backchannel_logout_uri: " + rp.URL + "\n",
		extraConfig: "requests:\n  fetch:\n    allow_private_addresses: true\n    ca_file: " + rp.CAFile + "\n" +
			"delivery:\n  retry_initial: 200ms\n  retry_max: 400ms\n  scan_interval: 1s\n",
	})
	rp.SetIssuer(tc.issuer)
	entry := tc.members[0]

	// First a logout with a willing RP: the latency from the logout
	// request to the RP's acceptance, wherever the grain runs.
	start := logoutOn(t, tc, entry)
	eventually.True(t, "the RP accepts the first logout", func() bool { return len(rp.Accepted()) == 1 })
	t.Logf("delivery latency (logout request on %s to RP accepted, grain on %s, three members): %v",
		entry.name, tc.status(entry).DeliveryNode, rp.Accepted()[0].At.Sub(start))

	rp.SetFailing(true)
	logoutOn(t, tc, entry)
	eventually.True(t, "the RP refused a few attempts", func() bool { return rp.Attempts() >= 4 })
	host := tc.byName(tc.status(entry).DeliveryNode)
	tc.kill(host)
	survivor := tc.members[0]
	if survivor == host {
		survivor = tc.members[1]
	}
	// The issuer is the first member's URL, which may be the one killed:
	// the RP reads the (shared) keys from a survivor.
	rp.SetJWKSURL(survivor.url() + "/.well-known/jwks.json")
	rp.SetFailing(false)
	eventually.True(t, "another member delivers the logout and the outbox drains", func() bool {
		return len(rp.Accepted()) == 2 && tc.status(survivor).OutboxPending == 0
	})
	if refused := rp.Refused(); len(refused) != 0 {
		t.Fatalf("the RP refused: %v", refused)
	}
	after := tc.status(survivor).DeliveryNode
	if after == host.name || after == "" {
		t.Fatalf("the Delivery grain is on %q after %s was killed", after, host.name)
	}
	t.Logf("delivered by %s after %s was killed; %d attempts in all", after, host.name, rp.Attempts())

	// The killed member comes back: nothing is sent again.
	tc.start(host)
	tc.waitReady(host, 90*time.Second)
	attempts := rp.Attempts()
	eventually.True(t, "the restarted member sees an empty outbox", func() bool { return tc.status(host).OutboxPending == 0 })
	// Three scan intervals: a member that would resend does so by then.
	time.Sleep(3 * time.Second)
	if got, refused := rp.Accepted(), rp.Refused(); len(got) != 2 || len(refused) != 0 || rp.Attempts() != attempts {
		t.Fatalf("after the restart: accepted %v, refused %v, attempts %d -> %d", got, refused, attempts, rp.Attempts())
	}
}

// logoutOn signs a new browser in through m, redeems the code (the RP
// holds an ID token) and logs out with the ID token as hint; it returns
// when the logout request was sent.
func logoutOn(t *testing.T, tc *testCluster, m *member) time.Time {
	t.Helper()
	b := newBrowser()
	code, verifier, err := signIn(b, tc, m)
	if err != nil {
		t.Fatal(err)
	}
	st, tok, err := redeem(m, code, verifier)
	if err != nil || st != http.StatusOK {
		t.Fatalf("redeem: %d %v %v", st, tok, err)
	}
	start := time.Now()
	req, _ := http.NewRequest("GET", m.url()+"/logout?"+url.Values{"id_token_hint": {tok["id_token"].(string)}}.Encode(), nil)
	if p, err := do(b, req); err != nil || p.status != http.StatusOK {
		t.Fatalf("logout: %v %+v", err, p)
	}
	return start
}
