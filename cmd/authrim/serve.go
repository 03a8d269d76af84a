package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"authrim/config"
	"authrim/http/discovery"
	"authrim/node"
)

func serveCmd(std *cli) *cobra.Command {
	var configFile string
	var demo bool
	cmd := &cobra.Command{
		Use:   "serve [--config FILE] [--demo]",
		Short: "Run a node",
		Long: `Run a node. The configuration is the built-in defaults, then the YAML file
(--config, else $AUTHRIM_CONFIG), then AUTHRIM_* environment variables
(config.yaml documents every key). Unknown keys and invalid values stop the
start with one message listing every problem.

--demo also serves a demo app at /demo, a relying party that signs in
with this node and shows the ID token and userinfo it gets, with a demo
user (username and a new password printed at each start) and a demo
client. It is for trying Authrim on this machine: it is refused unless
the node listens on a loopback address with a loopback issuer, and it
should get a data directory of its own (make demo uses ./data-demo).`,
		Example: `  authrim serve --config config.yaml
  AUTHRIM_STORAGE_DIR=./data-demo AUTHRIM_KEYS_KEK_FILE=./data-demo/kek authrim serve --demo`,
		Args: nArgs(0, "serve takes no arguments"),
	}
	cmd.Flags().StringVar(&configFile, "config", "", "config file, YAML (default $AUTHRIM_CONFIG)")
	cmd.Flags().BoolVar(&demo, "demo", false, "also serve the demo app at /demo with a demo user and client (loopback only; never in production)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if !cmd.Flags().Changed("config") {
			configFile = os.Getenv("AUTHRIM_CONFIG")
		}
		return serve(cmd.Context(), configFile, demo, std.stdout, std.stderr)
	}
	return cmd
}

func serve(ctx context.Context, path string, demo bool, stdout, stderr io.Writer) error {
	cfg, err := config.Load(path, os.Environ())
	if err != nil {
		return err
	}
	if demo {
		// Before anything is opened: a refused demo creates no data.
		if err := node.CheckDemo(cfg); err != nil {
			return err
		}
	}
	logger := newLogger(cfg.Log, stderr)
	slog.SetDefault(logger)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.Runtime.GCPercent)
	}

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	// A signal while the node starts abandons the start.
	startCtx, stopStart := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	n, err := node.Start(startCtx, cfg, node.Options{Logger: logger, Demo: demo})
	stopStart()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Authrim is serving %s\nDiscovery: %s%s\n",
		cfg.Issuer, strings.TrimSuffix(cfg.Issuer, "/"), discovery.ConfigurationPath)
	if d := n.Demo(); d != nil {
		// Printed, never logged: stdout is the terminal of whoever
		// started the node; the log may go elsewhere.
		fmt.Fprintf(stdout, "\nDemo app: %s\nSign in as:  %s\nPassword:    %s\n(a new password at each start; the demo is for this machine only)\n",
			d.URL, d.Username, d.Password)
	}

	select {
	case <-signals:
		// A graceful stop: out of the load balancer's rotation first,
		// then the requests in flight, then the grains (Shutdown). A
		// second signal skips the wait.
		n.Drain()
		wait := time.NewTimer(cfg.HTTP.DrainDelay.D())
		select {
		case <-wait.C:
		case <-signals:
			wait.Stop()
		}
		logger.Info("shutting down")
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-n.Done():
		logger.Error("http server stopped", "err", err)
	case err := <-n.Fenced():
		// The others dropped this node: stop serving (a supervisor
		// restarts it as a new member).
		sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout.D())
		defer cancel()
		return errors.Join(err, n.Shutdown(sctx))
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout.D())
	defer cancel()
	return n.Shutdown(sctx)
}

func newLogger(cfg node.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
