package main

import (
	"cmp"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are stamped by the Makefile (make build, make dist):
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=<full hash>"
//
// A binary built otherwise (go build, go install) reports what the Go
// toolchain recorded in it (runtime/debug.ReadBuildInfo).
var version, commit string

// buildInfo is what `authrim version` prints.
type buildInfo struct {
	Version, Commit, Time, Go, Platform string
	Modified                            bool
}

// readBuildInfo merges the stamped values with the toolchain's record:
// the module version (set by go install m@v) and the VCS settings
// (set by go build in a checkout).
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; b.Version == "" && v != "" && v != "(devel)" {
			b.Version = v
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = cmp.Or(b.Commit, s.Value)
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	b.Version = cmp.Or(b.Version, "devel")
	b.Commit = cmp.Or(b.Commit, "unknown")
	return b
}

func versionCmd(std *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Args:  nArgs(0, "version takes no arguments"),
		RunE: func(*cobra.Command, []string) error {
			b := readBuildInfo()
			fmt.Fprintf(std.stdout, "authrim %s\n", b.Version)
			c := b.Commit
			if b.Modified {
				c += " (modified)"
			}
			fmt.Fprintf(std.stdout, "commit:   %s\n", c)
			if b.Time != "" {
				fmt.Fprintf(std.stdout, "built:    %s\n", b.Time)
			}
			fmt.Fprintf(std.stdout, "go:       %s\nplatform: %s\n", b.Go, b.Platform)
			return nil
		},
	}
}
