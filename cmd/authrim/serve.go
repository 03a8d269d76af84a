package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"authrim/config"
	"authrim/http/discovery"
	"authrim/node"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", os.Getenv("AUTHRIM_CONFIG"), "config file (YAML)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{msg: "serve takes no arguments"}
	}
	cfg, err := config.Load(*path, os.Environ())
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
