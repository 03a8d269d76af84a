package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// lb is the load balancer of the rolling-restart test: round robin over
// the members whose /readyz answered 200 at the last health check (every
// 100 ms), no retries. Every 5xx it hands a client is recorded.
type lb struct {
	backends []*url.URL
	mu       sync.Mutex
	healthy  []bool
	next     int
	errs     []string
	served   atomic.Int64
	stop     chan struct{}
	done     chan struct{}
}

func newLB(members []*member) *lb {
	l := &lb{healthy: make([]bool, len(members)), stop: make(chan struct{}), done: make(chan struct{})}
	for _, m := range members {
		u, _ := url.Parse(m.url())
		l.backends = append(l.backends, u)
	}
	go l.check()
	return l
}

func (l *lb) check() {
	defer close(l.done)
	c := &http.Client{Timeout: 500 * time.Millisecond}
	for {
		for i, b := range l.backends {
			ok := false
			if resp, err := c.Get(b.String() + "/readyz"); err == nil {
				ok = resp.StatusCode == http.StatusOK
				resp.Body.Close()
			}
			l.mu.Lock()
			l.healthy[i] = ok
			l.mu.Unlock()
		}
		select {
		case <-l.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (l *lb) Close() {
	close(l.stop)
	<-l.done
}

func (l *lb) record(format string, args ...any) {
	l.mu.Lock()
	l.errs = append(l.errs, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *lb) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	var target *url.URL
	for i := 0; i < len(l.backends); i++ {
		k := (l.next + i) % len(l.backends)
		if l.healthy[k] {
			target = l.backends[k]
			l.next = k + 1
			break
		}
	}
	l.mu.Unlock()
	l.served.Add(1)
	if target == nil {
		l.record("%s %s: no healthy member", r.Method, r.URL.Path)
		http.Error(w, "no healthy member", http.StatusServiceUnavailable)
		return
	}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode >= 500 {
				l.record("%s %s on %s: %d", r.Method, r.URL.Path, target.Host, resp.StatusCode)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			l.record("%s %s on %s: %v", r.Method, r.URL.Path, target.Host, err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	p.ServeHTTP(w, r)
}

// TestRollingRestartLosesNothing: three members behind a load balancer
// that health-checks /readyz, under a steady load of sign-ins, refreshes
// and userinfo calls; each member in turn is stopped with SIGTERM and
// started on a new binary. Clients see no 5xx, every refresh family still
// refreshes and every browser is still signed in.
func TestRollingRestartLosesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	proxyAddr := ln.Addr().String()
	tc := startWith(t, clusterOpts{nodes: 3, backend: "etcd", issuer: "http://localhost:" + strings.Split(proxyAddr, ":")[1]})
	balancer := newLB(tc.members)
	srv := &http.Server{Handler: balancer}
	go srv.Serve(ln)
	defer func() {
		srv.Close()
		balancer.Close()
	}()
	front := &member{name: "lb", http: proxyAddr}
	tc.viewsAre(tc.members, "node1", "node2", "node3")

	// The new release: the same code, built again with another version.
	newBin := filepath.Join(t.TempDir(), "authrim-next")
	if out, err := exec.Command("go", "build", "-o", newBin, "-ldflags", "-X main.version=rolling-next", "authrim/cmd/authrim").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	// The load: each worker keeps a browser (its login) and a refresh
	// family, and loops refresh, userinfo and a silent sign-in.
	type worker struct {
		b      *http.Client
		rt, at string
		err    error
	}
	const workers = 4
	ws := make([]*worker, workers)
	for i := range ws {
		w := &worker{b: newBrowser()}
		code, verifier, err := signIn(w.b, tc, front)
		if err != nil {
			t.Fatal(err)
		}
		status, tok, err := redeem(front, code, verifier)
		if err != nil || status != http.StatusOK {
			t.Fatalf("redeem: %d %v %v", status, tok, err)
		}
		w.rt, w.at = tok["refresh_token"].(string), tok["access_token"].(string)
		ws[i] = w
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var rounds atomic.Int64
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				status, tok, err := refresh(front, w.rt)
				if err != nil || status != http.StatusOK {
					if status < 500 { // 5xx are the balancer's record
						w.err = fmt.Errorf("refresh: %d %v %v", status, tok, err)
						return
					}
					continue
				}
				w.rt, w.at = tok["refresh_token"].(string), tok["access_token"].(string)
				if status, body, err := userinfo(front, w.at); (err != nil || status != http.StatusOK) && status < 500 {
					w.err = fmt.Errorf("userinfo: %d %v %v", status, body, err)
					return
				}
				if i%5 == 0 {
					if _, _, err := signIn(w.b, tc, front); err != nil && !strings.Contains(err.Error(), ": 5") {
						w.err = err
						return
					}
				}
				rounds.Add(1)
			}
		}()
	}

	for _, m := range tc.members {
		before := rounds.Load()
		stopAt := time.Now()
		if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-m.exited
		if m.err != nil {
			t.Fatalf("%s did not stop cleanly: %v\n%s", m.name, m.err, tail(m.log.String(), 30))
		}
		stopped := time.Since(stopAt)
		m.bin = newBin
		startAt := time.Now()
		tc.start(m)
		tc.waitReady(m, 90*time.Second)
		ready := time.Since(startAt)
		tc.viewsAre(tc.members, "node1", "node2", "node3")
		t.Logf("%s: SIGTERM to exit %s (drain_delay 2s), start to ready %s, %d load rounds meanwhile",
			m.name, stopped.Round(time.Millisecond), ready.Round(time.Millisecond), rounds.Load()-before)
	}
	cancel()
	wg.Wait()

	for i, w := range ws {
		if w.err != nil {
			t.Errorf("worker %d: %v", i, w.err)
			continue
		}
		// Its family still refreshes, and its browser is still signed in.
		if status, tok, err := refresh(front, w.rt); err != nil || status != http.StatusOK {
			t.Errorf("worker %d: final refresh: %d %v %v", i, status, tok, err)
		}
		if err := stillSignedIn(w.b, front); err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	balancer.mu.Lock()
	errs := balancer.errs
	balancer.mu.Unlock()
	t.Logf("%d requests through the balancer, %d load rounds", balancer.served.Load(), rounds.Load())
	if len(errs) > 0 {
		t.Fatalf("clients saw %d 5xx during the rolling restart:\n%s", len(errs), strings.Join(errs, "\n"))
	}
	for _, m := range tc.members {
		if out, err := exec.Command(newBin, "version").CombinedOutput(); err != nil || !strings.Contains(string(out), "rolling-next") {
			t.Fatalf("%s: new binary version: %s %v", m.name, out, err)
		}
	}
}

// stillSignedIn asks for a code with prompt=none: a lost session answers
// login_required.
func stillSignedIn(b *http.Client, m *member) error {
	verifier, challenge := pkce()
	_ = verifier
	v := url.Values{"client_id": {"rp"}, "redirect_uri": {rpRedirect}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"}, "nonce": {"n"}, "prompt": {"none"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	req, _ := http.NewRequest("GET", m.url()+"/authorize?"+v.Encode(), nil)
	p, err := do(b, req)
	if err != nil {
		return err
	}
	if p.status != http.StatusFound || p.loc == nil || p.loc.Query().Get("code") == "" {
		return errors.New("session lost: prompt=none answered " + fmt.Sprint(p.status, " ", p.loc))
	}
	return nil
}
