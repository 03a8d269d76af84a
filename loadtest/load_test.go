package loadtest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestDriveCountsAndStopsWhenItemsRunOut(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusTeapot)
		}
	}))
	defer srv.Close()
	c := NewClient(4)
	calls := make([]Call, 50)
	for i := range calls {
		path := "/ok"
		if i%10 == 0 {
			path = "/fail"
		}
		calls[i] = func(ctx context.Context, c *http.Client) error { return get(ctx, c, srv.URL+path, http.StatusOK, nil) }
	}
	w := Drive(context.Background(), c, NewOnce(calls), 4, time.Minute, true)
	if !w.Exhausted || w.Requests != 45 || w.Errors != 5 || served.Load() != 50 || len(w.Latencies) != 45 {
		t.Fatalf("window %+v, served %d", w, served.Load())
	}
	if w.FirstError == nil || !strings.Contains(w.FirstError.Error(), "418") {
		t.Fatalf("first error %v", w.FirstError)
	}
	if w.Quantile(0.5) <= 0 || w.Quantile(0.99) < w.Quantile(0.5) || w.Rate() <= 0 {
		t.Fatalf("quantiles %v %v rate %v", w.Quantile(0.5), w.Quantile(0.99), w.Rate())
	}
}

func TestDriveEndsAfterItsDuration(t *testing.T) {
	src := Forever(func(uint64) Call {
		return func(ctx context.Context, _ *http.Client) error { time.Sleep(time.Millisecond); return nil }
	})
	// A source that never runs out: Drive returning at all shows the
	// duration ended it.
	w := Drive(context.Background(), nil, src, 3, 100*time.Millisecond, false)
	if w.Exhausted || w.Requests == 0 || w.Latencies != nil {
		t.Fatalf("window %+v", w)
	}
}

func TestParallelReturnsTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	var ran atomic.Int64
	err := Parallel(context.Background(), 100, 4, func(_ context.Context, i int) error {
		ran.Add(1)
		if i == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || ran.Load() > 100 {
		t.Fatalf("err %v after %d", err, ran.Load())
	}
	if err := Parallel(context.Background(), 20, 4, func(context.Context, int) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestProcessReadings(t *testing.T) {
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	user, sys, err := ProcessTimes(os.Getpid())
	if err != nil || user+sys <= 0 {
		t.Fatalf("times %v %v %v", user, sys, err)
	}
	m, err := ProcessMemory(os.Getpid())
	if err != nil || m.Peak <= 0 || m.RSS <= 0 || m.Peak < m.RSS {
		t.Fatalf("memory %+v %v", m, err)
	}
	if busy, err := MachineBusy(); err != nil || busy <= 0 {
		t.Fatalf("machine busy %v %v", busy, err)
	}
}

func TestScrapeReadsUnlabelledSamples(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("# HELP go_memstats_mallocs_total x\n# TYPE go_memstats_mallocs_total counter\ngo_memstats_mallocs_total 1.5e+06\n" +
			"go_memstats_alloc_bytes_total 42\nother{a=\"b\"} 7\n"))
	}))
	defer srv.Close()
	m, err := Scrape(context.Background(), srv.URL, "go_memstats_mallocs_total", "go_memstats_alloc_bytes_total", "missing")
	if err != nil || m["go_memstats_mallocs_total"] != 1.5e6 || m["go_memstats_alloc_bytes_total"] != 42 || len(m) != 2 {
		t.Fatalf("%v %v", m, err)
	}
}

func TestSummaryIsTheMedianOfRuns(t *testing.T) {
	e := Endpoint{Name: "x", TargetCPU: 100}
	s := summarize(e, []Result{{CPUus: 300, Rate: 1}, {CPUus: 90, Rate: 3}, {CPUus: 95, Rate: 2}})
	if s.CPUus != 95 || s.Rate != 2 || s.Met == nil || !*s.Met {
		t.Fatalf("%+v", s)
	}
	if median([]float64{4, 1, 3, 2}) != 2.5 {
		t.Fatal("even median")
	}
}

func TestPopulationIsDeterministicAndValid(t *testing.T) {
	p := NewPopulation(3, []string{"a", "b"}, time.Now())
	if p.Cookie(1) != p.Cookie(1) || p.Cookie(1) == p.Cookie(2) || p.Seed(1).Subject != "b" {
		t.Fatal("derivation")
	}
	dir := t.TempDir()
	if err := p.Write(dir); err != nil {
		t.Fatal(err)
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"A=1", "B=2", "C=3"}, []string{"B=x", "D=4", "B=y"})
	want := []string{"A=1", "B=y", "C=3", "D=4"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestHops(t *testing.T) {
	sum := func(ep string, p50, p99, cpu float64) Summary {
		var s Summary
		s.Endpoint, s.P50ms, s.P99ms, s.CPUus = ep, p50, p99, cpu
		return s
	}
	tops := []TopologySummary{
		{Topology: Topology{Name: TopologyInline}, Endpoints: []Summary{sum("userinfo", 1, 4, 200)}},
		{Topology: Topology{Name: TopologyLocal}, Endpoints: []Summary{sum("userinfo", 1.5, 5, 250)}},
		{Topology: Topology{Name: TopologyLocalEtcd}, Endpoints: []Summary{sum("userinfo", 2, 6, 400)}},
		{Topology: Topology{Name: TopologyRemote}, Endpoints: []Summary{sum("userinfo", 3, 9, 500)}},
	}
	hops := Hops(tops)
	if len(hops) != 3 || hops[0].Hop != "actor hop" || hops[0].CPUus != 50 || hops[0].CPUPct != 25 ||
		hops[2].Hop != "network hop" || hops[2].P99ms != 3 || hops[2].CPUus != 100 {
		t.Fatalf("%+v", hops)
	}
	if got := comparePlan([]string{TopologyRoles, TopologyInline}); !slices.Equal(got, []string{TopologyInline, TopologyLocalEtcd, TopologyRoles}) {
		t.Fatalf("plan %v", got)
	}
}
