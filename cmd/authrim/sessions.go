package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"authrim/http/management"
)

// usersSessions lists a user's sessions, or ends one (--revoke) or all
// (--revoke-all).
func usersSessions(std *cli, client *adminClient) *cobra.Command {
	var (
		revoke    string
		revokeAll bool
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "sessions USER [--revoke SID | --revoke-all] [--json]",
		Short: "List a user's browser sessions, or end one or all of them",
		Long: `List where a user is signed in: each browser session with its device,
address, sign-in time, method and the clients (apps) that have tokens of it.

--revoke SID ends one session and --revoke-all every one: the sign-in ends
(the browser must sign in again), its tokens stop working except those
asked for offline use (offline_access), and each app that got an ID token
of it is sent a back-channel logout. To end offline tokens too, disable
the user or set their password.`,
		Example: `  authrim users sessions alice
  authrim users sessions alice --revoke Wm9vX3Nlc3Npb25faWQ
  authrim users sessions alice --revoke-all`,
		Args: nArgs(1, "users sessions needs exactly one USER (username or subject)"),
	}
	f := cmd.Flags()
	f.StringVar(&revoke, "revoke", "", "end the session with this SID (as listed)")
	f.BoolVar(&revokeAll, "revoke-all", false, "end every session of the user")
	f.BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		user := a[0]
		path := "/admin/users/" + url.PathEscape(user) + "/sessions"
		revoking := cmd.Flags().Changed("revoke")
		switch {
		case revoking && revokeAll:
			return usageError{msg: "users sessions takes --revoke SID or --revoke-all, not both"}
		case revoking && revoke == "":
			return usageError{msg: "--revoke needs a session ID"}
		case revoking:
			if err := client.do(cmd.Context(), http.MethodDelete, path+"/"+url.PathEscape(revoke), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(std.stdout, "ended session %s of user %s\n", revoke, user)
			return nil
		case revokeAll:
			var out management.EndedView
			if err := client.do(cmd.Context(), http.MethodDelete, path, nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(std.stdout, out)
			}
			noun := "sessions"
			if len(out.Ended) == 1 {
				noun = "session"
			}
			fmt.Fprintf(std.stdout, "ended %d %s of user %s\n", len(out.Ended), noun, user)
			return nil
		}
		var list management.SessionsView
		if err := client.do(cmd.Context(), http.MethodGet, path, nil, &list); err != nil {
			return err
		}
		if asJSON {
			return printJSON(std.stdout, list)
		}
		printSessions(std.stdout, user, list)
		return nil
	}
	return cmd
}

func printSessions(w io.Writer, user string, v management.SessionsView) {
	if len(v.Sessions) == 0 {
		fmt.Fprintf(w, "user %s has no active sessions\n", user)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SID\tSIGNED IN\tDEVICE\tADDRESS\tMETHOD\tCLIENTS")
	for _, s := range v.Sessions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Sid, s.SignedIn.Format(time.RFC3339), s.Device,
			orDash(s.Address), orDash(strings.Join(s.AMR, ",")), orDash(strings.Join(s.Clients, ",")))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
