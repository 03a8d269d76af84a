package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"authrim/config"
	"authrim/loadtest"
)

const benchLong = `Load-test every endpoint of a node this command starts (or, with --target,
of one you run), and print Markdown tables (see docs/BENCH.md).

--topology: inline alone (the default) measures every endpoint on one node as
it runs by default (crypto.mode inline, or --config's), plus the scale runs.
Any other set compares topologies on the endpoints that sign or verify (each
on fresh nodes):
  inline  one node, crypto.mode inline (no actor hop)
  local   one node, crypto.mode local
  remote  two nodes (etcd): A's front ends use B's Crypto pool
  roles   two nodes (etcd): A discovery,auth,management; B token,userinfo
remote or roles add local-etcd (local on the same two-node storage) as their
baseline; e.g. --topology inline,local,remote,roles.

--target URL measures an already running node instead (with --target-metrics
URL: its metrics.listen, e.g. http://127.0.0.1:9090/metrics, where its CPU and
allocations are read; and --admin-token, default $AUTHRIM_ADMIN_TOKEN). Users,
clients and --cluster-sessions password sign-ins are made over HTTP (each at
the node's argon2id cost). Endpoints: all but revocation and login-passkey; no
scale runs, no topologies.

Endpoints (--endpoints, default all; for a topology comparison: %s):
%s`

// benchCmd: the load benchmark.
func benchCmd(std *cli) *cobra.Command {
	var (
		topology, target, targetMetrics, adminToken, configFile, endpoints string
		scale, jsonOut, out, dir, bin                                      string
		conc, runs, scaleActive, retries, users, revoke, clusterSessions   int
		warmup, duration                                                   time.Duration
		maxOther                                                           float64
		quiet, nodeLog                                                     bool
	)
	cmd := &cobra.Command{
		Use:   "bench [flags]",
		Short: "Load-test every endpoint; see docs/BENCH.md",
		Long:  fmt.Sprintf(benchLong, strings.Join(loadtest.CompareEndpoints, ","), strings.Join(loadtest.EndpointNames(), ", ")),
		Args:  nArgs(0, "bench takes no arguments (authrim bench --help)"),
	}
	f := cmd.Flags()
	f.StringVar(&topology, "topology", loadtest.TopologyDefault, "T[,T]: what to compare (inline, local, remote, roles; see above)")
	f.StringVar(&target, "target", "", "measure an already running node at this URL (see above)")
	f.StringVar(&targetMetrics, "target-metrics", "", "the --target node's metrics URL")
	f.StringVar(&adminToken, "admin-token", "", "the --target node's admin token (default $AUTHRIM_ADMIN_TOKEN)")
	f.StringVar(&configFile, "config", "", "the nodes' base config (default: built-in defaults); the bench overrides listeners, storage, admin token and rate limits")
	f.StringVar(&endpoints, "endpoints", "all", "E[,E], all or none: which endpoints")
	f.IntVar(&conc, "concurrency", 16, "load workers, one keep-alive connection each")
	f.DurationVar(&warmup, "warmup", 2*time.Second, "warm-up window per endpoint and run")
	f.DurationVar(&duration, "duration", 5*time.Second, "measured window per endpoint and run")
	f.IntVar(&runs, "runs", 3, "runs per endpoint; tables show the median")
	f.StringVar(&scale, "scale", "", "S[,S] or none: stored refresh families for the refresh/userinfo scale runs (default 10k,100k with --topology inline, else none; e.g. 10k,100k,1m)")
	f.IntVar(&scaleActive, "scale-active", 4000, "families the scale runs use, drawn from the stored ones")
	f.Float64Var(&maxOther, "max-other-load", 0.3, "measure a window again when the rest of the machine kept more than this many cores busy during it (0: never)")
	f.IntVar(&retries, "retries", 1, "at most this many times per window, and only in the first 5 minutes")
	f.IntVar(&users, "users", 4, "users seeded through the admin API")
	f.IntVar(&revoke, "revoke-families", 120_000, "families seeded for the revocation windows")
	f.IntVar(&clusterSessions, "cluster-sessions", 1000, "sessions signed in over HTTP on each two-node topology")
	f.StringVar(&jsonOut, "json", "", "also write the results as JSON to this file")
	f.StringVar(&out, "out", "", "write the Markdown tables to this file instead of stdout")
	f.StringVar(&dir, "dir", "", "keep the nodes' data under this directory (default: a temporary directory, removed)")
	f.StringVar(&bin, "bin", "", "the authrim binary the nodes run (default: this one)")
	f.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	f.BoolVar(&nodeLog, "node-log", false, "copy the nodes' logs to stderr")
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		if !cmd.Flags().Changed("admin-token") {
			adminToken = os.Getenv("AUTHRIM_ADMIN_TOKEN")
		}
		o := benchOptions{
			topology: topology, target: target, targetMetrics: targetMetrics, adminToken: adminToken, configFile: configFile,
			endpoints: endpoints, scale: scale, jsonOut: jsonOut, out: out, dir: dir, bin: bin,
			conc: conc, runs: runs, scaleActive: scaleActive, retries: retries, users: users, revoke: revoke, clusterSessions: clusterSessions,
			warmup: warmup, duration: duration, maxOther: maxOther, quiet: quiet, nodeLog: nodeLog,
		}
		return bench(cmd.Context(), o, std.args, std.stdout, std.stderr)
	}
	return cmd
}

// benchOptions are bench's flags.
type benchOptions struct {
	topology, target, targetMetrics, adminToken, configFile, endpoints string
	scale, jsonOut, out, dir, bin                                      string
	conc, runs, scaleActive, retries, users, revoke, clusterSessions   int
	warmup, duration                                                   time.Duration
	maxOther                                                           float64
	quiet, nodeLog                                                     bool
}

func bench(ctx context.Context, b benchOptions, argv []string, stdout, stderr io.Writer) error {
	if b.target != "" && (b.targetMetrics == "" || b.adminToken == "") {
		return usageError{msg: "bench: --target needs --target-metrics (the node's metrics.listen URL) and --admin-token"}
	}
	switch {
	case b.conc < 1:
		return usageError{msg: "bench: --concurrency must be at least 1"}
	case b.runs < 1:
		return usageError{msg: "bench: --runs must be at least 1"}
	case b.warmup <= 0 || b.duration <= 0:
		return usageError{msg: "bench: --warmup and --duration must be positive"}
	case b.maxOther < 0 || b.retries < 0:
		return usageError{msg: "bench: --max-other-load and --retries must not be negative"}
	case b.users < 1 || b.revoke < 1 || b.scaleActive < 1 || b.clusterSessions < 2:
		return usageError{msg: "bench: --users, --revoke-families and --scale-active must be at least 1, --cluster-sessions at least 2"}
	}
	topologies := splitList(b.topology)
	for _, t := range topologies {
		if !slices.Contains(loadtest.Topologies, t) && t != loadtest.TopologyLocalEtcd {
			return usageError{msg: fmt.Sprintf("bench: unknown topology %q (known: %s)", t, strings.Join(loadtest.Topologies, ", "))}
		}
	}
	if b.scale == "" {
		b.scale = "none"
		if b.target == "" && (len(topologies) == 0 || slices.Equal(topologies, []string{loadtest.TopologyDefault})) {
			b.scale = "10k,100k"
		}
	}
	sizes, err := parseSizes(b.scale)
	if err != nil {
		return usageError{msg: "bench: --scale: " + err.Error()}
	}
	o := loadtest.Options{
		ConfigFile: b.configFile, Topologies: topologies, ClusterSessions: b.clusterSessions, Concurrency: b.conc, Warmup: b.warmup, Duration: b.duration,
		Runs: b.runs, MaxOtherLoad: b.maxOther, Retries: b.retries, Scale: sizes, ScaleActive: b.scaleActive, Users: b.users, RevokeFamilies: b.revoke, Dir: b.dir, Bin: b.bin,
		Target: b.target, TargetMetrics: b.targetMetrics, AdminToken: b.adminToken,
	}
	if b.target != "" {
		o.Topologies = nil
	}
	switch b.endpoints {
	case "all", "":
	case "none":
		o.Endpoints = []string{}
	default:
		o.Endpoints = splitList(b.endpoints)
	}
	if o.Bin == "" {
		if o.Bin, err = os.Executable(); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	// The nodes run with this config: read it once here so that a bad
	// file fails before any node starts, and to report the argon2 cost.
	cfg, err := config.Load(b.configFile, nil)
	if err != nil {
		return err
	}
	if !b.quiet {
		o.Progress = stderr
	}
	if b.nodeLog {
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
	rep.Command = strings.TrimSpace("authrim " + strings.Join(argv, " "))
	w := stdout
	if b.out != "" {
		f, err := os.Create(b.out)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		w = f
	}
	if err := rep.WriteMarkdown(w); err != nil {
		return err
	}
	if b.jsonOut != "" {
		j, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(b.jsonOut, append(j, '\n'), 0o644); err != nil {
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
