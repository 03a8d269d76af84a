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

	"github.com/spf13/cobra"

	"authrim/config"
	"authrim/http/discovery"
	"authrim/node"
)

func serveCmd(std *cli) *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "serve [--config FILE]",
		Short: "Run a node",
		Long: `Run a node. The configuration is the built-in defaults, then the YAML file
(--config, else $AUTHRIM_CONFIG), then AUTHRIM_* environment variables
(config.yaml documents every key). Unknown keys and invalid values stop the
start with one message listing every problem.`,
		Args: nArgs(0, "serve takes no arguments"),
	}
	cmd.Flags().StringVar(&configFile, "config", "", "config file, YAML (default $AUTHRIM_CONFIG)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if !cmd.Flags().Changed("config") {
			configFile = os.Getenv("AUTHRIM_CONFIG")
		}
		return serve(cmd.Context(), configFile, std.stdout, std.stderr)
	}
	return cmd
}

func serve(ctx context.Context, path string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(path, os.Environ())
	if err != nil {
		return err
	}
	logger := newLogger(cfg.Log, stderr)
	slog.SetDefault(logger)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.Runtime.GCPercent)
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	n, err := node.Start(ctx, cfg, node.Options{Logger: logger})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Authrim is serving %s\nDiscovery: %s%s\n",
		cfg.Issuer, strings.TrimSuffix(cfg.Issuer, "/"), discovery.ConfigurationPath)

	select {
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
