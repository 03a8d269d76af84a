package loadtest_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"authrim/loadtest"
	"authrim/node"
)

var (
	profEndpoint = flag.String("profile.endpoint", "", "endpoint to profile (TestProfileEndpoint is skipped without it)")
	profOut      = flag.String("profile.out", "cpu.pprof", "CPU profile of the measured window")
	profDuration = flag.Duration("profile.duration", 10*time.Second, "measured window")
	profConc     = flag.Int("profile.concurrency", 4, "load workers")
	profScale    = flag.Int("profile.scale", 0, "profile the scale run with this many stored families instead (one file per endpoint)")
	profRuns     = flag.Int("profile.runs", 1, "runs; each run's window overwrites the profiles of the run before")
)

// inProcess starts the node inside the test process, so that a CPU
// profile of the measured window shows the server's code (next to the
// load generator's, which is easy to tell apart).
func inProcess(ctx context.Context, sc loadtest.ServerConfig) (*loadtest.Server, error) {
	sc, err := loadtest.Ports(sc)
	if err != nil {
		return nil, err
	}
	cfg := node.Default()
	cfg.Issuer = fmt.Sprintf("http://localhost:%d", sc.Port)
	cfg.HTTP.Listen = fmt.Sprintf("127.0.0.1:%d", sc.Port)
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", sc.MetricsPort)
	cfg.Storage.Dir = sc.Dir
	cfg.Keys.KEKFile = filepath.Join(sc.Dir, "kek")
	cfg.Admin.Token = sc.AdminToken
	cfg.RateLimit.Enabled = false
	cfg.Log.Level = "warn"
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := node.Start(ctx, cfg, node.Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	return loadtest.NewServer(sc, os.Getpid(), func() error { return n.Shutdown(context.Background()) }), nil
}

func writeAllocs(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}

// TestProfileEndpoint profiles one endpoint of the bench:
//
//	go test ./loadtest -run TestProfileEndpoint -count=1 -args \
//	    -profile.endpoint=token-code-es256 -profile.out=/tmp/cpu.pprof
//
// Several endpoints (comma-separated) run one after the other on one
// node, a profile each (cpu-ENDPOINT.pprof). Each window also writes
// allocation profiles before and after it (OUT.allocs-before, OUT.allocs:
// alloc_space with -diff_base, inuse_space for what stays).
//
//	go tool pprof -top -focus 'authrim/' /tmp/cpu.pprof
func TestProfileEndpoint(t *testing.T) {
	if *profEndpoint == "" {
		t.Skip("set -profile.endpoint")
	}
	o := loadtest.Options{
		Concurrency: *profConc, Warmup: 2 * time.Second, Duration: *profDuration, Runs: *profRuns,
		Endpoints: strings.Split(*profEndpoint, ","), Dir: t.TempDir(), Launch: inProcess, Progress: os.Stderr,
		Window: func(endpoint string) func() {
			out := *profOut
			if *profScale > 0 || strings.Contains(*profEndpoint, ",") {
				// Both scale endpoints are profiled: one file each.
				out = strings.TrimSuffix(out, ".pprof") + "-" + endpoint + ".pprof"
			}
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				t.Fatal(err)
			}
			// Allocations: snapshots before and after the window, for
			// go tool pprof -sample_index=alloc_space -diff_base OUT.allocs-before OUT.allocs
			writeAllocs(t, out+".allocs-before")
			return func() { pprof.StopCPUProfile(); f.Close(); writeAllocs(t, out+".allocs") }
		},
	}
	if *profScale > 0 {
		o.Endpoints, o.Scale = []string{}, []int{*profScale}
	}
	rep, err := loadtest.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_ = rep.WriteMarkdown(&b)
	t.Log("\n" + b.String())
}
