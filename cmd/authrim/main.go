// Command authrim is the Authrim OpenID Provider: `authrim serve` runs a
// node; `authrim keys|users|clients ...` operate a running node through
// its admin API. The commands are cobra commands: every one has --help,
// and `authrim completion bash|zsh|fish` prints a shell completion script.
//
// Exit codes: 0 success, 1 a failure (the node refused, a file could not
// be written, ...), 2 a usage error (unknown command or flag, missing
// argument), found before anything is sent.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runIO(ctx, args, os.Stdin, stdout, stderr)
}

// runIO is run with its standard input given (tests feed passwords).
func runIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(&cli{args: args, stdin: stdin, stdout: stdout, stderr: stderr})
	root.SetArgs(normalizeArgs(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	if cmd == nil {
		cmd = root
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "authrim: %s\n\n%s", ue.msg, cmd.UsageString())
		return 2
	}
	fmt.Fprintf(stderr, "authrim: %s\n", err)
	return 1
}

// cli is where commands read and write.
type cli struct {
	// args is the command line as given (bench records it).
	args           []string
	stdin          io.Reader
	stdout, stderr io.Writer
}

const rootLong = `authrim: a self-hostable OpenID Connect Provider.

authrim serve runs a node. The other commands operate a running node
through its admin API (set admin.token on the node first): they take
--server URL (default $AUTHRIM_SERVER, else http://localhost:8080) and
--admin-token TOKEN (default $AUTHRIM_ADMIN_TOKEN), and send the token over
plain http only to a loopback host, unless given --insecure.

USER is a username or a subject; a client is named by its client_id.
Exit codes: 0 success, 1 failure, 2 usage error.`

func newRoot(std *cli) *cobra.Command {
	root := &cobra.Command{
		Use:   "authrim",
		Short: "A self-hostable OpenID Connect Provider",
		Long:  rootLong,
		// Errors and usage are printed by run, which also picks the exit
		// code.
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE:          groupRun,
	}
	// A command that only groups others is runnable (so that a missing
	// or unknown subcommand exits 2), but its usage shows the subcommands
	// only; the only inherited flags are the admin API's.
	root.SetUsageTemplate(strings.NewReplacer(
		"Usage:{{if .Runnable}}", "Usage:{{if and .Runnable (not .HasAvailableSubCommands)}}",
		"Global Flags:", "Admin API flags:",
	).Replace(root.UsageTemplate()))
	root.SetOut(std.stdout)
	root.SetErr(std.stderr)
	root.SetIn(std.stdin)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{msg: err.Error()}
	})
	root.AddCommand(
		serveCmd(std),
		keysCmd(std),
		usersCmd(std),
		clientsCmd(std),
		resourcesCmd(std),
		auditCmd(std),
		webhooksCmd(std),
		connectorsCmd(std),
		backupCmd(std),
		restoreCmd(std),
		clusterCmd(std),
		benchCmd(std),
		versionCmd(std),
		configCmd(std),
		healthcheckCmd(std),
	)
	noFileArgs(root)
	return root
}

// noFileArgs tells shell completion that no command's arguments are
// files (they are users, clients, KIDs, member names), so the shell does
// not offer them; flags that take files (--config, --out) still do.
func noFileArgs(cmd *cobra.Command) {
	if cmd.ValidArgsFunction == nil {
		cmd.ValidArgsFunction = cobra.NoFileCompletions
	}
	for _, c := range cmd.Commands() {
		noFileArgs(c)
	}
}

// groupRun is the run of a command that only groups others: called
// without a subcommand, or with an unknown one, it is a usage error
// (exit 2), as `authrim users` always was.
func groupRun(cmd *cobra.Command, args []string) error {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() && c.Name() != "help" {
			names = append(names, c.Name())
		}
	}
	if len(args) == 0 {
		if !cmd.HasParent() {
			return usageError{msg: "no command given; the commands are " + strings.Join(names, ", ")}
		}
		return usageError{msg: fmt.Sprintf("%s needs a subcommand: %s", cmd.Name(), strings.Join(names, ", "))}
	}
	unknown := fmt.Sprintf("unknown %s subcommand %q", cmd.Name(), args[0])
	if !cmd.HasParent() {
		unknown = fmt.Sprintf("unknown command %q", args[0])
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		unknown += " (did you mean " + strings.Join(s, " or ") + "?)"
	}
	return usageError{msg: unknown}
}

// usageError is a mistake in the command line: exit code 2, with the
// command's usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// nArgs wants exactly n positional arguments; msg is the error otherwise.
func nArgs(n int, msg string) cobra.PositionalArgs {
	return func(_ *cobra.Command, a []string) error {
		if len(a) != n {
			return usageError{msg: msg}
		}
		return nil
	}
}

// dashArg marks a command whose one positional argument may start with
// "-" (a KID is base64url): normalizeArgs takes the first argument that is
// neither a flag of the command nor a flag's value as that argument.
const dashArg = "authrim/dash-arg"

// normalizeArgs rewrites a command line for cobra's flag parser where the
// CLI used to read it otherwise (it was built on the standard flag
// package), so that every command line that worked still does:
//
//   - "-name" and "-name=value", for a long flag of the command, are
//     "--name" and "--name=value" (the flag package took one dash or two);
//   - on a dashArg command, the positional argument may start with "-"
//     wherever it stands among the flags, without needing "--".
//
// A line whose command cannot be found is left alone: cobra reports it.
func normalizeArgs(root *cobra.Command, args []string) []string {
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		return args
	}
	cmd.InitDefaultHelpFlag()
	flags := pflag.NewFlagSet(cmd.Name(), pflag.ContinueOnError)
	flags.AddFlagSet(cmd.Flags())
	flags.AddFlagSet(cmd.PersistentFlags())
	flags.AddFlagSet(cmd.InheritedFlags())
	path := strings.Fields(cmd.CommandPath())[1:]
	var positional []string
	if cmd.Annotations[dashArg] != "" && !danglingFlag(flags, rest) {
		positional, rest = takeDashArg(flags, rest)
	}
	out := slices.Clone(path)
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			out = append(out, rest[i:]...)
			break
		}
		f, hasValue := definedFlag(flags, a)
		if f != nil && !strings.HasPrefix(a, "--") && !isShorthand(flags, a) {
			a = "-" + a
		}
		out = append(out, a)
		if f != nil && !hasValue && f.NoOptDefVal == "" && i+1 < len(rest) {
			i++
			out = append(out, rest[i]) // the flag's value, whatever it looks like
		}
	}
	if len(positional) > 0 {
		if !slices.Contains(out, "--") {
			out = append(out, "--")
		}
		out = append(out, positional...)
	}
	return out
}

// takeDashArg finds the positional argument of a dashArg command: the
// first argument that is neither a flag defined in fs nor a flag's value.
// "--" still ends the flags as usual.
func takeDashArg(fs *pflag.FlagSet, args []string) (arg, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if i+1 < len(args) {
				return args[i+1 : i+2], append(slices.Clone(args[:i]), args[i+2:]...)
			}
			break
		}
		if f, hasValue := definedFlag(fs, a); f != nil {
			if !hasValue && f.NoOptDefVal == "" {
				i++ // the flag's value
			}
			continue
		}
		return args[i : i+1], append(slices.Clone(args[:i]), args[i+1:]...)
	}
	return nil, args
}

// danglingFlag reports whether args end with a flag that wants a value:
// pflag would take a "--" put after it as that value, so such a line is
// left for pflag to refuse.
func danglingFlag(fs *pflag.FlagSet, args []string) bool {
	if len(args) == 0 {
		return false
	}
	f, hasValue := definedFlag(fs, args[len(args)-1])
	return f != nil && !hasValue && f.NoOptDefVal == ""
}

// definedFlag returns the flag of fs that arg names ("-name", "--name",
// "-name=value", "-h"), and whether arg carries the value.
func definedFlag(fs *pflag.FlagSet, arg string) (*pflag.Flag, bool) {
	name, ok := strings.CutPrefix(arg, "-")
	if !ok {
		return nil, false
	}
	double := strings.HasPrefix(name, "-")
	name = strings.TrimPrefix(name, "-")
	name, _, hasValue := strings.Cut(name, "=")
	if name == "" || strings.HasPrefix(name, "-") {
		return nil, false
	}
	if f := fs.Lookup(name); f != nil {
		return f, hasValue
	}
	if !double && len(name) == 1 {
		return fs.ShorthandLookup(name), hasValue
	}
	return nil, false
}

// isShorthand reports whether arg is a one-letter shorthand ("-h").
func isShorthand(fs *pflag.FlagSet, arg string) bool {
	name, _, _ := strings.Cut(strings.TrimPrefix(arg, "-"), "=")
	return len(name) == 1 && fs.ShorthandLookup(name) != nil
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}
