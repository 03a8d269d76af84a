// Command authrim is the Authrim OpenID Provider: `authrim serve` runs a
// node; `authrim keys|users|clients ...` operate a running node through
// its admin API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `authrim: a self-hostable OpenID Connect Provider

Usage:
  authrim serve [--config FILE]          run a node (config: --config, else $AUTHRIM_CONFIG, else built-in defaults)
  authrim keys list                       list signing keys and their lifecycle
  authrim keys rotate [--alg ALG]         bring the next key forward (it signs once published for keys.publish_ahead)
  authrim keys revoke KID --reason TEXT   remove a key from the JWKS at once; nothing is signed with it again
  authrim users add --username U (--password P | --password-stdin) [--email E --name N --given-name G
                    --family-name F --phone P --locale L ... --claims JSON]
                                          create a user (claims: OIDC standard claims)
  authrim users list                      list users
  authrim users delete USER               delete a user (username or subject); their sessions and tokens end
  authrim users disable USER              stop a user signing in; their sessions and tokens end at once
  authrim users enable USER               let a disabled user sign in again (old sessions stay ended)
  authrim users passkeys USER             list a user's passkeys (WebAuthn credentials)
  authrim users passkeys USER --delete ID delete one (ID as listed): a lost or cloned authenticator
  authrim clients add --auth-method M --grant-types a,b [--id ID] [--secret S] [--redirect-uri URI ...]
                      [--post-logout-redirect-uri URI ...] [--name N] [--skip-consent] [--id-token-alg ALG]
                      [--jwks-file FILE]
                                          register a client; prints its id and, once, its secret
  authrim clients list                    list static (config.yaml) and registered clients
  authrim clients delete ID               delete a registered client
  authrim backup --out FILE               download a consistent snapshot of a running node's database (admin API)
  authrim restore --from FILE --data DIR [--force]
                                          put a backup in place as DIR/authrim.db (node stopped; needs the same KEK file)
  authrim cluster certs --nodes N --out DIR [--hosts H,...]
                                          make a cluster CA and N node certificates for cluster.tls
  authrim cluster status [--json]         members, where the KeyManager lives, etcd leader and health
  authrim cluster etcd-add --name N --peer-url URL
                                          announce a new etcd member; prints the initial_cluster it starts with
  authrim cluster etcd-remove NAME        remove an etcd member (node gone for good, or about to be replaced)
  authrim bench [flags]                   load-test every endpoint; see docs/BENCH.md (authrim bench -h)

Client commands take --server URL (default $AUTHRIM_SERVER, else http://localhost:8080)
and --admin-token TOKEN (default $AUTHRIM_ADMIN_TOKEN). They send the token over plain
http only to a loopback host, unless given --insecure.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "keys":
		err = keysCmd(ctx, args[1:], stdout)
	case "users":
		err = usersCmd(ctx, args[1:], os.Stdin, stdout)
	case "clients":
		err = clientsCmd(ctx, args[1:], stdout)
	case "backup":
		err = backupCmd(ctx, args[1:], stdout)
	case "restore":
		err = restoreCmd(args[1:], stdout)
	case "cluster":
		err = clusterCmd(ctx, args[1:], stdout)
	case "bench":
		err = benchCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "authrim: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "authrim: %s\n\n%s", ue.msg, usage)
			return 2
		}
		fmt.Fprintf(stderr, "authrim: %s\n", err)
		return 1
	}
	return 0
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// parseArgs parses flags that may come before or after positional
// arguments (`keys revoke KID --reason X`), returning the positionals.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{msg: err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// positionals parses flags and wants exactly n positional arguments;
// usage is the message when the count is wrong.
func positionals(fs *flag.FlagSet, args []string, n int, usage string) ([]string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != n {
		return nil, usageError{msg: usage}
	}
	return pos, nil
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}
