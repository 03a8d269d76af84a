package clustertest

import (
	"authrim/internal/eventually"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// account is acknowledged state: a signed-in browser, its latest refresh
// token and one code not redeemed yet.
type account struct {
	b              *http.Client
	rt             string
	code, verifier string
}

// seedAccounts signs in n browsers through the members in turn; each
// keeps a refresh token and an unredeemed code.
func seedAccounts(t *testing.T, tc *testCluster, on []*member, n int) []*account {
	t.Helper()
	var out []*account
	for i := 0; i < n; i++ {
		m := on[i%len(on)]
		a := &account{b: newBrowser()}
		code, verifier, err := signIn(a.b, tc, m)
		if err != nil {
			t.Fatal(err)
		}
		status, tok, err := redeem(m, code, verifier)
		if err != nil || status != http.StatusOK {
			t.Fatalf("redeem: %d %v", status, err)
		}
		a.rt = tok["refresh_token"].(string)
		if a.code, a.verifier, err = signIn(a.b, tc, m); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// checkAccounts redeems every account's code and rotates its refresh
// token through the members in turn: nothing acknowledged was lost.
func checkAccounts(t *testing.T, on []*member, accounts []*account) {
	t.Helper()
	for i, a := range accounts {
		m := on[i%len(on)]
		if a.code != "" {
			if status, body, err := redeem(m, a.code, a.verifier); err != nil || status != http.StatusOK {
				t.Fatalf("account %d: code redeemed on %s: %d %v %v", i, m.name, status, body, err)
			}
			a.code = ""
		}
		status, tok, err := refresh(m, a.rt)
		if err != nil || status != http.StatusOK {
			t.Fatalf("account %d: refresh on %s: %d %v %v", i, m.name, status, tok, err)
		}
		a.rt = tok["refresh_token"].(string)
	}
}

func without(ms []*member, gone *member) []*member {
	return slices.DeleteFunc(slices.Clone(ms), func(m *member) bool { return m == gone })
}

// kidsOf lists the key ids `keys list` shows on m.
func kidsOf(tc *testCluster, m *member) []string {
	var kids []string
	for _, line := range strings.Split(tc.cli(m, nil, "keys", "list"), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			kids = append(kids, f[0])
		}
	}
	slices.Sort(kids)
	return kids
}

func TestKillNineLosesNothing(t *testing.T) {
	tc := startCluster(t, 3)
	accounts := seedAccounts(t, tc, tc.members, 9)
	kidsBefore := kidsOf(tc, tc.members[0])

	// 1. The node hosting the KeyManager dies.
	victim := tc.byName(tc.status(tc.members[0]).KeyManagerNode)
	survivors := without(tc.members, victim)
	tc.kill(victim)
	killed := time.Now()
	// The first request that needs the KeyManager (now elsewhere).
	var kids []string
	tookKM := eventually.OK(t, 0, "keys list after the KeyManager's node died", func() error {
		out, err := exec.Command(bin, "keys", "list", "--server", survivors[0].url(), "--admin-token", adminToken).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	kids = kidsOf(tc, survivors[1])
	t.Logf("KeyManager answered on a survivor %s after kill -9 of %s", tookKM.Round(time.Millisecond), victim.name)
	if !slices.Equal(kids, kidsBefore) {
		t.Fatalf("keys changed across the failover:\nbefore %v\nafter  %v", kidsBefore, kids)
	}
	// Sessions that lived on the victim move too: every account works.
	tookSession := eventually.OK(t, 0, "first refresh after the kill", func() error {
		status, tok, err := refresh(survivors[0], accounts[0].rt)
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("%d %v %v", status, tok, err)
		}
		accounts[0].rt = tok["refresh_token"].(string)
		return nil
	})
	t.Logf("first refresh answered %s after kill -9 (%s since the kill)", tookSession.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	checkAccounts(t, survivors, accounts)
	accounts = append(accounts, seedAccounts(t, tc, survivors, 3)...)
	st := tc.status(survivors[0])
	if len(st.Members) != 2 || st.KeyManagerNode == victim.name {
		t.Fatalf("status after the kill: %+v", st)
	}

	// 2. The killed node restarts and rejoins.
	restartAndRejoin(t, tc, victim)
	checkAccounts(t, tc.members, accounts)

	// 3. A node hosting sessions (not the KeyManager) dies.
	kmNode := tc.status(tc.members[0]).KeyManagerNode
	var sessionHost *member
	for _, m := range tc.members {
		if st := tc.status(m); m.name != kmNode && st.Grains["Session"] > 0 {
			sessionHost = m
		}
	}
	if sessionHost == nil {
		t.Fatal("no node other than the KeyManager's hosts sessions")
	}
	survivors = without(tc.members, sessionHost)
	tc.kill(sessionHost)
	start := time.Now()
	checkAccounts(t, survivors, accounts)
	t.Logf("all %d accounts refreshed on the survivors %s after kill -9 of %s", len(accounts), time.Since(start).Round(time.Millisecond), sessionHost.name)
	if !slices.Equal(kidsOf(tc, survivors[0]), kids) {
		t.Fatal("keys changed after the second kill")
	}
	tc.start(sessionHost)
	tc.waitReady(sessionHost, 60*time.Second)
	checkAccounts(t, tc.members, accounts)
}

func TestPausedNodeIsFencedAndRejoins(t *testing.T) {
	tc := startCluster(t, 3)
	accounts := seedAccounts(t, tc, tc.members, 9)
	// Pause a node that hosts sessions, past its lease (5 s).
	var victim *member
	for _, m := range tc.members {
		if tc.status(m).Grains["Session"] > 0 {
			victim = m
			break
		}
	}
	if victim == nil {
		t.Fatal("no node hosts sessions")
	}
	survivors := without(tc.members, victim)
	oldTokens := make([]string, len(accounts))
	for i, a := range accounts {
		oldTokens[i] = a.rt
	}
	if err := victim.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	// The survivors serve every account meanwhile (its grains move).
	checkAccounts(t, survivors, accounts)
	t.Logf("survivors served all accounts %s after SIGSTOP of %s", time.Since(paused).Round(time.Millisecond), victim.name)
	time.Sleep(time.Until(paused.Add(6 * time.Second)))
	if err := victim.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// Straight after waking up, the paused node is asked to refresh with
	// each account's current token (rotated by the survivors while it
	// slept). Answered by the live grain (forwarded), that works; refused,
	// fine too. But a stale activation would not know the token (400):
	// that would be a grain live twice.
	for i, a := range accounts {
		status, tok, err := refresh(victim, a.rt)
		switch {
		case err != nil || status >= 500:
		case status == http.StatusOK:
			a.rt = tok["refresh_token"].(string)
		default:
			t.Fatalf("account %d: the resumed node answered %d %v: a stale activation served it", i, status, tok)
		}
	}
	// A token rotated away before the pause stays refused everywhere.
	if status, _, _ := refresh(survivors[0], oldTokens[0]); status != http.StatusBadRequest {
		t.Fatalf("a rotated-away token: %d, want 400", status)
	}
	accounts = accounts[1:] // that reuse revoked account 0's family, as it must
	select {
	case <-victim.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not fence itself after SIGCONT", victim.name)
	}
	if !strings.Contains(victim.log.String(), "fenced") {
		t.Fatalf("%s exited without saying it was fenced: %v", victim.name, victim.err)
	}
	// The paused member's return must never take the survivors down: for
	// 10 s after it exited they stay ready and sign users in.
	survivorsStayReady(t, tc, survivors, 10*time.Second)
	// The survivors' state is intact, and the node comes back as a new
	// member.
	checkAccounts(t, survivors, accounts)
	restartAndRejoin(t, tc, victim)
	checkAccounts(t, tc.members, accounts)
}

// The documented procedure for a node that lost its disk: remove its etcd
// member, add it again, wipe, start with state: existing. It rejoins and
// serves what the others kept.
func TestReplaceNodeThatLostItsDisk(t *testing.T) {
	tc := startCluster(t, 3)
	accounts := seedAccounts(t, tc, tc.members, 6)
	lost := tc.members[2]
	survivors := without(tc.members, lost)
	tc.kill(lost)
	if err := os.RemoveAll(filepath.Join(lost.dir, "data")); err != nil {
		t.Fatal(err)
	}
	tc.cli(survivors[0], nil, "cluster", "etcd-remove", lost.name)
	// etcd refuses a new member until the leader has seen the remaining
	// ones healthy for a few seconds ("unhealthy cluster"): retry.
	var out string
	eventually.OK(t, 0, "etcd-add", func() error {
		b, err := exec.Command(bin, "cluster", "etcd-add", "--name", lost.name, "--peer-url", "https://"+lost.peer,
			"--server", survivors[1].url(), "--admin-token", adminToken).CombinedOutput()
		out = string(b)
		if err != nil {
			return fmt.Errorf("%v: %s", err, b)
		}
		return nil
	})
	_, initial, ok := strings.Cut(out, "initial_cluster: ")
	if !ok {
		t.Fatalf("etcd-add printed no initial_cluster: %s", out)
	}
	initial = strings.TrimSpace(initial)
	cfg, err := os.ReadFile(lost.cfg)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`initial_cluster: .*`)
	cfg = re.ReplaceAll(cfg, []byte("initial_cluster: "+initial+"\n    state: existing"))
	if err := os.WriteFile(lost.cfg, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	tc.start(lost)
	tc.waitReady(lost, 60*time.Second)
	eventually.OK(t, 0, "the replaced node back in every view", func() error {
		for _, m := range tc.members {
			st := tc.status(m)
			if len(st.Members) != 3 || len(st.Etcd) != 3 {
				return fmt.Errorf("%s sees members %v, etcd %v", m.name, st.Members, st.Etcd)
			}
			for _, e := range st.Etcd {
				if !e.Healthy {
					return fmt.Errorf("etcd member %s unhealthy", e.Name)
				}
			}
		}
		return nil
	})
	// The replaced node serves the accounts the others kept.
	checkAccounts(t, []*member{lost}, accounts)
	checkAccounts(t, tc.members, accounts)
}

// restartAndRejoin starts m again and waits until every member sees all.
//
// Like a supervisor (systemd Restart=always) it starts the node again if
// it fenced itself while joining: on a starved machine a just-started
// node can miss heartbeats and be dropped again.
func restartAndRejoin(t *testing.T, tc *testCluster, m *member) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		tc.start(m)
		if tc.readyOrFenced(m, 60*time.Second) {
			break
		}
		if attempt == 3 {
			t.Fatalf("%s fenced itself on every restart", m.name)
		}
		t.Logf("%s fenced itself while joining (attempt %d): restarting it", m.name, attempt)
	}
	eventually.OK(t, 0, "the restarted node back in every view", func() error {
		for _, o := range tc.members {
			if st := tc.status(o); len(st.Members) != len(tc.members) {
				return fmt.Errorf("%s sees %v", o.name, st.Members)
			}
		}
		return nil
	})
}

// survivorsStayReady signs a user in on each of ms in turn, and checks
// that none of them stops being ready or exits, for d.
func survivorsStayReady(t *testing.T, tc *testCluster, ms []*member, d time.Duration) {
	t.Helper()
	until := time.Now().Add(d)
	for i := 0; time.Now().Before(until); i++ {
		m := ms[i%len(ms)]
		select {
		case <-m.exited:
			t.Fatalf("%s exited after the paused member came back: %v", m.name, m.err)
		default:
		}
		resp, err := http.Get(m.url() + "/readyz")
		if err != nil {
			t.Fatalf("%s: readyz: %v", m.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s stopped being ready after the paused member came back: %d", m.name, resp.StatusCode)
		}
		if _, _, err := signIn(newBrowser(), tc, m); err != nil {
			t.Fatalf("%s: sign-in after the paused member came back: %v", m.name, err)
		}
	}
}
