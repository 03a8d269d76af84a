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

func keysCmd(std *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List, rotate, revoke and show signing keys",
		Long: `Signing and encryption keys of a running node (admin API, /admin/keys).

A key is next (published, not yet signing), active (signs), retiring (still
published until what it signed has expired), removed, or revoked (out of the
JWKS at once, never signs again). A KID may start with "-": it is taken as
the KID wherever it stands, no "--" needed.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	client := adminFlags(cmd)
	list := &cobra.Command{
		Use:   "list",
		Short: "List the keys and their lifecycle",
		Args:  nArgs(0, "keys list takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out management.KeysView
			if err := client.do(cmd.Context(), http.MethodGet, "/admin/keys", nil, &out); err != nil {
				return err
			}
			printKeys(std.stdout, out)
			return nil
		},
	}
	var alg string
	rotate := &cobra.Command{
		Use:   "rotate [--alg ALG]",
		Short: "Bring the next key forward (it signs once published for keys.publish_ahead)",
		Args:  nArgs(0, "keys rotate takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out management.KeysView
			if err := client.do(cmd.Context(), http.MethodPost, "/admin/keys/rotate", map[string]string{"alg": alg}, &out); err != nil {
				return err
			}
			printKeys(std.stdout, out)
			return nil
		},
	}
	rotate.Flags().StringVar(&alg, "alg", "", "algorithm to rotate (default: all)")
	var reason string
	revoke := &cobra.Command{
		Use:         "revoke KID --reason TEXT",
		Short:       "Remove a key from the JWKS at once; nothing is signed with it again",
		Args:        nArgs(1, "keys revoke needs exactly one KID"),
		Annotations: map[string]string{dashArg: "KID"},
		RunE: func(cmd *cobra.Command, a []string) error {
			if strings.TrimSpace(reason) == "" {
				return usageError{msg: "keys revoke needs --reason"}
			}
			var out management.KeysView
			if err := client.do(cmd.Context(), http.MethodPost, "/admin/keys/"+url.PathEscape(a[0])+"/revoke", map[string]string{"reason": reason}, &out); err != nil {
				return err
			}
			printKeys(std.stdout, out)
			return nil
		},
	}
	revoke.Flags().StringVar(&reason, "reason", "", "why the key is revoked (kept in the key record; required)")
	var asJSON bool
	show := &cobra.Command{
		Use:         "show KID",
		Short:       "Show one key: its lifecycle and public JWK",
		Args:        nArgs(1, "keys show needs exactly one KID"),
		Annotations: map[string]string{dashArg: "KID"},
		RunE: func(cmd *cobra.Command, a []string) error {
			var out management.KeyDetailView
			if err := client.do(cmd.Context(), http.MethodGet, "/admin/keys/"+url.PathEscape(a[0]), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(std.stdout, out)
			}
			printKey(std.stdout, out)
			return nil
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	cmd.AddCommand(list, rotate, revoke, show)
	return cmd
}

func printKeys(w io.Writer, v management.KeysView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATUS\tSINCE\tNEXT CHANGE\tNOTE")
	for _, k := range v.Keys {
		since, next, note := "", "", ""
		switch k.Status {
		case "next":
			since, next = ts(k.Created), "active at "+ts(k.ActivateAt)
		case "active":
			since = ts(k.Activated)
		case "retiring":
			since, next = ts(k.Retired), "removed at "+ts(k.RemoveAt)
		case "removed":
			since = ts(k.Removed)
		case "revoked":
			since, note = ts(k.Revoked), k.RevokeReason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Kid, k.Alg, k.Status, since, next, note)
	}
	tw.Flush()
}

func printKey(w io.Writer, k management.KeyDetailView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(name, value string) {
		if value != "" && value != "-" {
			fmt.Fprintf(tw, "%s:\t%s\n", name, value)
		}
	}
	row("kid", k.Kid)
	row("alg", k.Alg)
	row("use", k.Use)
	row("status", k.Status)
	row("created", ts(k.Created))
	row("activate at", ts(k.ActivateAt))
	row("activated", ts(k.Activated))
	row("retired", ts(k.Retired))
	row("remove at", ts(k.RemoveAt))
	row("removed", ts(k.Removed))
	row("revoked", ts(k.Revoked))
	row("revoke reason", k.RevokeReason)
	row("public JWK", string(k.PublicJWK))
	tw.Flush()
}

func ts(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
