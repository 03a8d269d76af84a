package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"authrim/connectors"
	"authrim/connectors/registry"
	"authrim/http/management"
)

// connectorsCmd manages the upstream connectors of a running node
// (/admin/connectors).
func connectorsCmd(std *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connectors",
		Short: "Sign in with other providers: list, add, show, remove upstream connectors",
		Long: `Upstream connectors of a running node (admin API, /admin/connectors):
config.yaml's are listed read-only; the ones added here are stored (their
secret sealed under the KEK) and used by every member at the next sign-in,
without a restart. A connector is written as one entry of config.yaml's
connectors: list (README "Sign in with..."), with its secret's value, or
with the secret in --secret-file.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	client := adminFlags(cmd)
	cmd.AddCommand(connectorsList(std, client), connectorsAdd(std, client), connectorsShow(std, client), connectorsRemove(std, client))
	return cmd
}

func printConnector(std *cli, v registry.View, asJSON bool) error {
	if asJSON {
		return printJSON(std.stdout, v)
	}
	fmt.Fprintf(std.stdout, "id:           %s\ntype:         %s\nname:         %s\nsource:       %s\nprovisioning: %s\nsecret:       %s\n",
		v.ID, v.Type, v.Name, source(v), orDefault(string(v.Provisioning), "jit"), map[bool]string{true: "set (never shown)", false: "none"}[v.SecretSet])
	switch {
	case v.Type == "ldap":
		fmt.Fprintf(std.stdout, "directory:    %s (users under %s)\n", v.LDAP.URL, v.LDAP.UserBase)
	case v.Issuer != "":
		fmt.Fprintf(std.stdout, "issuer:       %s\n", v.Issuer)
	}
	if len(v.AllowedDomains) > 0 {
		fmt.Fprintf(std.stdout, "domains:      %s\n", strings.Join(v.AllowedDomains, ", "))
	}
	return nil
}

func source(v registry.View) string {
	if v.ReadOnly {
		return v.Source + " (read-only)"
	}
	return v.Source
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func connectorsList(std *cli, client *adminClient) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List connectors (config.yaml's and stored ones)",
		Args:  nArgs(0, "connectors list takes no arguments"),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var out management.ConnectorsView
		if err := client.do(cmd.Context(), http.MethodGet, management.ConnectorsPath, nil, &out); err != nil {
			return err
		}
		if asJSON {
			return printJSON(std.stdout, out)
		}
		if len(out.Connectors) == 0 {
			fmt.Fprintln(std.stdout, "no connectors")
			return nil
		}
		tw := tabwriter.NewWriter(std.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTYPE\tSOURCE\tNAME")
		for _, v := range out.Connectors {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.ID, v.Type, source(v), v.Name)
		}
		return tw.Flush()
	}
	return cmd
}

func connectorsAdd(std *cli, client *adminClient) *cobra.Command {
	var file, secretFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "add --file CONNECTOR.yaml [--secret-file PATH]",
		Short: "Store a connector (one connectors: entry as YAML or JSON); its secret is sealed",
		Example: `  authrim connectors add --file corp-ldap.yaml --secret-file /run/secrets/ldap-bind
  authrim connectors add --file - < corp-sso.yaml`,
		Args: nArgs(0, "connectors add takes --file, not arguments"),
	}
	cmd.Flags().StringVar(&file, "file", "", "the connector as YAML (or JSON); - reads standard input")
	cmd.Flags().StringVar(&secretFile, "secret-file", "", "file holding the client secret (ldap: the bind password)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if file == "" {
			return usageError{msg: "connectors add needs --file (one connectors: entry as YAML)"}
		}
		var raw []byte
		var err error
		if file == "-" {
			var b bytes.Buffer
			_, err = b.ReadFrom(std.stdin)
			raw = b.Bytes()
		} else {
			raw, err = os.ReadFile(file)
		}
		if err != nil {
			return fmt.Errorf("connectors add: %w", err)
		}
		var in connectors.Config
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&in); err != nil {
			return usageError{msg: fmt.Sprintf("connectors add: %s is not one connector: %v", file, err)}
		}
		if secretFile != "" {
			b, err := os.ReadFile(secretFile)
			if err != nil {
				return fmt.Errorf("connectors add: %w", err)
			}
			secret := strings.TrimRight(string(b), "\r\n")
			if in.Type == "ldap" {
				in.LDAP.BindPassword = secret
			} else {
				in.ClientSecret = secret
			}
		}
		var v registry.View
		if err := client.do(cmd.Context(), http.MethodPost, management.ConnectorsPath, in, &v); err != nil {
			return err
		}
		return printConnector(std, v, asJSON)
	}
	return cmd
}

func connectorsShow(std *cli, client *adminClient) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show one connector (never its secret)",
		Args:  nArgs(1, "connectors show needs exactly one ID"),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		var v registry.View
		if err := client.do(cmd.Context(), http.MethodGet, management.ConnectorsPath+"/"+url.PathEscape(a[0]), nil, &v); err != nil {
			return err
		}
		return printConnector(std, v, asJSON)
	}
	return cmd
}

func connectorsRemove(std *cli, client *adminClient) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a stored connector (its users' links stay)",
		Args:  nArgs(1, "connectors remove needs exactly one ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := client.do(cmd.Context(), http.MethodDelete, management.ConnectorsPath+"/"+url.PathEscape(a[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(std.stdout, "removed connector %s\n", a[0])
			return nil
		},
	}
}
