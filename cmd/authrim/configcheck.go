package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"authrim/config"
)

// configCmd groups commands about the node's configuration.
func configCmd(std *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check a node configuration without starting the node",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRun,
	}
	cmd.AddCommand(configCheckCmd(std))
	return cmd
}

// configCheckCmd loads a configuration exactly as serve does (defaults,
// file, AUTHRIM_* variables, validation) and stops there: a deploy
// pipeline or a chart test refuses a configuration the node would refuse,
// before any node is started with it.
func configCheckCmd(std *cli) *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "check [--config FILE]",
		Short: "Load the configuration as serve would; exit 0 if the node would accept it",
		Long: `Load the configuration as authrim serve does: the built-in defaults, the
YAML file (--config, else $AUTHRIM_CONFIG), then AUTHRIM_* environment
variables, then validation. Exit 0 and print "configuration ok" if serve
would accept it; exit 1 with every problem otherwise. Nothing is opened or
created: files the configuration names (keys, certificates) are not read.`,
		Example: `  authrim config check --config config.yaml
  AUTHRIM_HTTP_LISTEN=0.0.0.0:8080 authrim config check --config /etc/authrim/config.yaml`,
		Args: nArgs(0, "config check takes no arguments"),
	}
	cmd.Flags().StringVar(&configFile, "config", "", "config file, YAML (default $AUTHRIM_CONFIG)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if !cmd.Flags().Changed("config") {
			configFile = os.Getenv("AUTHRIM_CONFIG")
		}
		if _, err := config.Load(configFile, os.Environ()); err != nil {
			return err
		}
		fmt.Fprintln(std.stdout, "configuration ok")
		return nil
	}
	return cmd
}
