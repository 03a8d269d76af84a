package clustertest

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// processCPU is a process's user+system CPU time, from /proc (clock ticks
// of 10 ms on Linux).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func (tc *testCluster) cpu() time.Duration {
	var sum time.Duration
	for _, m := range tc.members {
		sum += processCPU(m.cmd.Process.Pid)
	}
	return sum
}

// BenchmarkRefreshGrant drives the token endpoint (refresh_token grant:
// Session grain, a store write, an RS256 ID token and an access token)
// with 16 keep-alive workers spread over the nodes, as a load balancer
// would, and reports requests/s and the servers' CPU per request (all
// nodes' CPU time from /proc divided by requests). Run with a fixed count,
// each sub-benchmark starts its nodes once:
//
//	go test -run '^$' -bench RefreshGrant -benchtime 6000x ./clustertest
func BenchmarkRefreshGrant(b *testing.B) {
	for _, c := range []struct {
		name    string
		nodes   int
		backend string
	}{{"1node-bbolt", 1, "bbolt"}, {"1node-etcd", 1, "etcd"}, {"3nodes-etcd", 3, "etcd"}} {
		b.Run(c.name, func(b *testing.B) {
			tc := startNodes(b, c.nodes, c.backend)
			const workers = 16
			accounts := make([]*account, workers*2)
			for i := range accounts {
				m := tc.members[i%len(tc.members)]
				a := &account{b: newBrowser()}
				code, verifier, err := signIn(a.b, tc, m)
				if err != nil {
					b.Fatal(err)
				}
				status, tok, err := redeem(m, code, verifier)
				if err != nil || status != http.StatusOK {
					b.Fatalf("redeem: %d %v", status, err)
				}
				a.rt = tok["refresh_token"].(string)
				accounts[i] = a
			}
			http.DefaultTransport.(*http.Transport).MaxIdleConnsPerHost = workers
			var next, failed atomic.Int64
			var wg sync.WaitGroup
			cpu0, start := tc.cpu(), time.Now()
			b.ResetTimer()
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					mine := accounts[2*w : 2*w+2]
					for i := 0; ; i++ {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						a := mine[i%2]
						m := tc.members[int(n)%len(tc.members)]
						status, tok, err := refresh(m, a.rt)
						if err != nil || status != http.StatusOK {
							failed.Add(1)
							continue
						}
						a.rt = tok["refresh_token"].(string)
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			elapsed, cpu := time.Since(start), tc.cpu()-cpu0
			if f := failed.Load(); f > 0 {
				b.Fatalf("%d of %d requests failed", f, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "server-cpu-µs/req")
		})
	}
}
