package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"authrim/http/management"
)

func resourcesCmd(std *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resources",
		Short: "Register, show, update and delete resource servers (APIs, RFC 8707)",
		Long: `Resource servers of a running node (admin API, /admin/resources), named by
their identifier: the absolute URI clients send as resource= (RFC 8707) and
the aud of the access tokens issued for them. Resource servers listed in
config.yaml (static) are shown but cannot be changed here.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	client := adminFlags(cmd)
	cmd.AddCommand(
		resourcesCreate(std, client),
		resourcesList(std, client),
		resourcesGet(std, client),
		resourcesUpdate(std, client),
		resourcesDelete(std, client),
	)
	return cmd
}

// resourceFlags are the metadata flags of create and update.
type resourceFlags struct {
	name, scopes, ttl, alg, jwkFile, encAlg, encEnc, introspection, services string
}

func addResourceFlags(cmd *cobra.Command) *resourceFlags {
	r := &resourceFlags{}
	f := cmd.Flags()
	f.StringVar(&r.name, "name", "", "name shown to users on the consent page")
	f.StringVar(&r.scopes, "scopes", "", "comma-separated scopes the resource server defines")
	f.StringVar(&r.ttl, "access-token-ttl", "", "lifetime of its access tokens (e.g. 5m; empty: tokens.access_token_ttl)")
	f.StringVar(&r.alg, "access-token-alg", "", "JWS algorithm of its access tokens (empty: tokens.access_token_alg)")
	f.StringVar(&r.jwkFile, "encryption-jwk-file", "", "file holding its public JWK: its access tokens are then encrypted to it")
	f.StringVar(&r.encAlg, "encryption-alg", "", "JWE key algorithm for its access tokens (e.g. RSA-OAEP-256)")
	f.StringVar(&r.encEnc, "encryption-enc", "", "JWE content algorithm (default A128CBC-HS256)")
	f.StringVar(&r.introspection, "introspection-client", "", "client_id the resource server authenticates as at /introspect")
	f.StringVar(&r.services, "service-clients", "", "comma-separated client_ids that may get its tokens with client_credentials")
	return r
}

// members returns the JSON members of the flags that were given.
func (r *resourceFlags) members(cmd *cobra.Command) (map[string]any, error) {
	out := map[string]any{}
	changed := cmd.Flags().Changed
	for _, f := range []struct {
		flag, member string
		value        func() (any, error)
	}{
		{"name", "name", func() (any, error) { return orNull(r.name), nil }},
		{"scopes", "scopes", func() (any, error) { return splitGrants(r.scopes), nil }},
		{"access-token-ttl", "access_token_ttl", func() (any, error) { return orNull(r.ttl), nil }},
		{"access-token-alg", "access_token_signing_alg", func() (any, error) { return orNull(r.alg), nil }},
		{"encryption-jwk-file", "access_token_encryption_jwk", func() (any, error) {
			if r.jwkFile == "" {
				return nil, nil
			}
			b, err := os.ReadFile(r.jwkFile)
			if err != nil {
				return nil, fmt.Errorf("--encryption-jwk-file: %w", err)
			}
			if !json.Valid(b) {
				return nil, usageError{msg: "--encryption-jwk-file: not JSON"}
			}
			return json.RawMessage(b), nil
		}},
		{"encryption-alg", "access_token_encryption_alg", func() (any, error) { return orNull(r.encAlg), nil }},
		{"encryption-enc", "access_token_encryption_enc", func() (any, error) { return orNull(r.encEnc), nil }},
		{"introspection-client", "introspection_client", func() (any, error) { return orNull(r.introspection), nil }},
		{"service-clients", "service_clients", func() (any, error) {
			if s := splitGrants(r.services); s != nil {
				return s, nil
			}
			return []string{}, nil
		}},
	} {
		if !changed(f.flag) {
			continue
		}
		v, err := f.value()
		if err != nil {
			return nil, err
		}
		out[f.member] = v
	}
	if s, ok := out["scopes"].([]string); ok && s == nil {
		out["scopes"] = []string{}
	}
	return out, nil
}

func resourcePath(id string) string { return "/admin/resources/" + url.PathEscape(id) }

func resourcesCreate(std *cli, client *adminClient) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create IDENTIFIER --scopes a,b [flags]",
		Short: "Register a resource server",
		Example: `  authrim resources create https://api.example.com/ --name "Example API" --scopes read,write \
      --access-token-ttl 5m --introspection-client api-gateway`,
		Args: nArgs(1, "resources create needs exactly one identifier (an absolute URI)"),
	}
	rf := addResourceFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		body, err := rf.members(cmd)
		if err != nil {
			return err
		}
		body["resource"] = a[0]
		var out management.ResourceView
		if err := client.do(cmd.Context(), http.MethodPost, "/admin/resources", body, &out); err != nil {
			return err
		}
		fmt.Fprintf(std.stdout, "created resource %s\n", out.Identifier)
		return nil
	}
	return cmd
}

func resourcesList(std *cli, client *adminClient) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List static (config.yaml) and registered resource servers",
		Args:  nArgs(0, "resources list takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out management.ResourcesView
			if err := client.do(cmd.Context(), http.MethodGet, "/admin/resources", nil, &out); err != nil {
				return err
			}
			printResources(std.stdout, out)
			return nil
		},
	}
}

func resourcesGet(std *cli, client *adminClient) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get IDENTIFIER",
		Short: "Show a resource server",
		Args:  nArgs(1, "resources get needs exactly one identifier"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd.Context(), std, client, resourcePath(a[0]), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	return cmd
}

func resourcesUpdate(std *cli, client *adminClient) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update IDENTIFIER [flags]",
		Short: "Change a registered resource server (only the flags given; an empty value resets)",
		Example: `  authrim resources update https://api.example.com/ --scopes read,write,admin
  authrim resources update https://api.example.com/ --encryption-jwk-file api.jwk --encryption-alg RSA-OAEP-256`,
		Args: nArgs(1, "resources update needs exactly one identifier"),
	}
	rf := addResourceFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		patch, err := rf.members(cmd)
		if err != nil {
			return err
		}
		if len(patch) == 0 {
			return usageError{msg: "resources update needs something to change"}
		}
		var out management.ResourceView
		if err := client.do(cmd.Context(), http.MethodPatch, resourcePath(a[0]), patch, &out); err != nil {
			return err
		}
		fmt.Fprintf(std.stdout, "updated resource %s\n", out.Identifier)
		return nil
	}
	return cmd
}

func resourcesDelete(std *cli, client *adminClient) *cobra.Command {
	return &cobra.Command{
		Use:   "delete IDENTIFIER",
		Short: "Delete a registered resource server",
		Args:  nArgs(1, "resources delete needs exactly one identifier"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := client.do(cmd.Context(), http.MethodDelete, resourcePath(a[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(std.stdout, "deleted resource %s\n", a[0])
			return nil
		},
	}
}

func printResources(w io.Writer, v management.ResourcesView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tNAME\tSCOPES\tSOURCE")
	for _, r := range v.Resources {
		name, source := r.Name, "admin API"
		if name == "" {
			name = "-"
		}
		if r.Static {
			source = "config.yaml"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Identifier, name, strings.Join(r.Scopes, ","), source)
	}
	tw.Flush()
}
