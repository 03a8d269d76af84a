package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"authrim/config"
	"authrim/loadtest"
)

const benchUsage = `authrim bench [flags]: load-test every endpoint of a node this command starts

Flags:
  --topology T[,T]        inline alone (the default): every endpoint on one node as it runs by
                          default (crypto.mode inline, or --config's), plus the scale runs. Any other set compares
                          topologies on the endpoints that sign or verify (each on fresh nodes):
                            inline  one node, crypto.mode inline (no actor hop)
                            local   one node, crypto.mode local
                            remote  two nodes (etcd): A's front ends use B's Crypto pool
                            roles   two nodes (etcd): A discovery,auth,management; B token,userinfo
                          remote or roles add local-etcd (local on the same two-node storage)
                          as their baseline; e.g. --topology inline,local,remote,roles
  --target URL            measure an already running node instead (with --target-metrics URL:
                          its metrics.listen, e.g. http://127.0.0.1:9090/metrics, where its CPU
                          and allocations are read; and --admin-token, default $AUTHRIM_ADMIN_TOKEN).
                          Users, clients and --cluster-sessions password sign-ins are made over
                          HTTP (each at the node's argon2id cost). Endpoints: all but revocation
                          and login-passkey; no scale runs, no topologies
  --config FILE           the node's base config (default: built-in defaults); the bench
                          overrides listeners, storage, admin token and rate limits
  --endpoints E[,E]|all|none
                          which endpoints (default all; for a topology comparison:
                          %s): %s
  --concurrency N         load workers, one keep-alive connection each (default 16)
  --warmup D --duration D warm-up and measured window per endpoint and run (default 2s, 5s)
  --runs N                runs per endpoint; tables show the median (default 3)
  --scale S[,S]|none      stored refresh families for the refresh/userinfo scale runs
                          (default 10k,100k with --topology inline, else none; e.g. 10k,100k,1m)
  --scale-active N        families the scale runs use, drawn from the stored ones (default 4000)
  --max-other-load C      measure a window again when the rest of the machine kept more than C
                          cores busy during it (default 0.3; 0: never)
  --retries N             at most N times per window, and only in the first 5 minutes (default 1)
  --users N               users seeded through the admin API (default 4)
  --revoke-families N     families seeded for the revocation windows (default 120000)
  --cluster-sessions N    sessions signed in over HTTP on each two-node topology (default 1000)
  --json FILE             also write the results as JSON
  --out FILE              write the Markdown tables to FILE instead of stdout
  --dir DIR               keep the nodes' data under DIR (default: a temporary directory, removed)
  --bin FILE              the authrim binary the nodes run (default: this one)
  --quiet                 no progress lines on stderr
  --node-log              copy the nodes' logs to stderr

See docs/BENCH.md.
`

// benchCmd: the load benchmark.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	topology := fs.String("topology", loadtest.TopologyDefault, "")
	target := fs.String("target", "", "")
	targetMetrics := fs.String("target-metrics", "", "")
	adminToken := fs.String("admin-token", os.Getenv("AUTHRIM_ADMIN_TOKEN"), "")
	configFile := fs.String("config", "", "")
	endpoints := fs.String("endpoints", "all", "")
	conc := fs.Int("concurrency", 16, "")
	warmup := fs.Duration("warmup", 2*time.Second, "")
	duration := fs.Duration("duration", 5*time.Second, "")
	runs := fs.Int("runs", 3, "")
	scale := fs.String("scale", "", "")
	scaleActive := fs.Int("scale-active", 4000, "")
	maxOther := fs.Float64("max-other-load", 0.3, "")
	retries := fs.Int("retries", 1, "")
	users := fs.Int("users", 4, "")
	revoke := fs.Int("revoke-families", 120_000, "")
	clusterSessions := fs.Int("cluster-sessions", 1000, "")
	jsonOut := fs.String("json", "", "")
	out := fs.String("out", "", "")
	dir := fs.String("dir", "", "")
	bin := fs.String("bin", "", "")
	quiet := fs.Bool("quiet", false, "")
	nodeLog := fs.Bool("node-log", false, "")
	help := fs.Bool("h", false, "")
	fs.BoolVar(help, "help", false, "")
	if _, err := positionals(fs, args, 0, "bench takes no arguments (authrim bench -h)"); err != nil {
		return err
	}
	if *help {
		fmt.Fprintf(stdout, benchUsage, strings.Join(loadtest.CompareEndpoints, ","), strings.Join(loadtest.EndpointNames(), ", "))
		return nil
	}
	if *target != "" && (*targetMetrics == "" || *adminToken == "") {
		return usageError{msg: "bench: --target needs --target-metrics (the node's metrics.listen URL) and --admin-token"}
	}
	switch {
	case *conc < 1:
		return usageError{msg: "bench: --concurrency must be at least 1"}
	case *runs < 1:
		return usageError{msg: "bench: --runs must be at least 1"}
	case *warmup <= 0 || *duration <= 0:
		return usageError{msg: "bench: --warmup and --duration must be positive"}
	case *maxOther < 0 || *retries < 0:
		return usageError{msg: "bench: --max-other-load and --retries must not be negative"}
	case *users < 1 || *revoke < 1 || *scaleActive < 1 || *clusterSessions < 2:
		return usageError{msg: "bench: --users, --revoke-families and --scale-active must be at least 1, --cluster-sessions at least 2"}
	}
	topologies := splitList(*topology)
	for _, t := range topologies {
		if !slices.Contains(loadtest.Topologies, t) && t != loadtest.TopologyLocalEtcd {
			return usageError{msg: fmt.Sprintf("bench: unknown topology %q (known: %s)", t, strings.Join(loadtest.Topologies, ", "))}
		}
	}
	if *scale == "" {
		*scale = "none"
		if *target == "" && (len(topologies) == 0 || slices.Equal(topologies, []string{loadtest.TopologyDefault})) {
			*scale = "10k,100k"
		}
	}
	sizes, err := parseSizes(*scale)
	if err != nil {
		return usageError{msg: "bench: --scale: " + err.Error()}
	}
	o := loadtest.Options{
		ConfigFile: *configFile, Topologies: topologies, ClusterSessions: *clusterSessions, Concurrency: *conc, Warmup: *warmup, Duration: *duration,
		Runs: *runs, MaxOtherLoad: *maxOther, Retries: *retries, Scale: sizes, ScaleActive: *scaleActive, Users: *users, RevokeFamilies: *revoke, Dir: *dir, Bin: *bin,
		Target: *target, TargetMetrics: *targetMetrics, AdminToken: *adminToken,
	}
	if *target != "" {
		o.Topologies = nil
	}
	switch *endpoints {
	case "all", "":
	case "none":
		o.Endpoints = []string{}
	default:
		o.Endpoints = splitList(*endpoints)
	}
	if o.Bin == "" {
		if o.Bin, err = os.Executable(); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	// The nodes run with this config: read it once here so that a bad
	// file fails before any node starts, and to report the argon2 cost.
	cfg, err := config.Load(*configFile, nil)
	if err != nil {
		return err
	}
	if !*quiet {
		o.Progress = stderr
	}
	if *nodeLog {
		o.NodeLog = stderr
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := loadtest.Run(ctx, o)
	if err != nil {
		return err
	}
	p := cfg.Passwords
	rep.Argon2 = fmt.Sprintf("argon2id t=%d, m=%d MiB, p=%d", p.Time, p.MemoryKiB/1024, p.Threads)
	rep.Command = strings.TrimSpace("authrim bench " + strings.Join(args, " "))
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		w = f
	}
	if err := rep.WriteMarkdown(w); err != nil {
		return err
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseSizes reads "10k,100k,1m" (k = 1,000, m = 1,000,000) or "none".
func parseSizes(s string) ([]int, error) {
	if s == "none" || s == "" {
		return nil, nil
	}
	var out []int
	for _, p := range splitList(s) {
		mult := 1
		switch {
		case strings.HasSuffix(strings.ToLower(p), "k"):
			mult, p = 1_000, p[:len(p)-1]
		case strings.HasSuffix(strings.ToLower(p), "m"):
			mult, p = 1_000_000, p[:len(p)-1]
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a size like 10k or 1m", p)
		}
		out = append(out, n*mult)
	}
	return out, nil
}
