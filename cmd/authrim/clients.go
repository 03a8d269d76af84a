package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"authrim/directory"
	"authrim/http/management"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func clientsCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{msg: "clients needs a subcommand: add, list or delete"}
	}
	fs := flag.NewFlagSet("clients "+args[0], flag.ContinueOnError)
	client := adminFlags(fs)
	switch args[0] {
	case "add":
		return clientsAdd(ctx, fs, client, args[1:], stdout)
	case "list":
		_, err := positionals(fs, args[1:], 0, "clients list takes no arguments")
		if err != nil {
			return err
		}
		var out management.ClientsView
		if err := client.do(ctx, http.MethodGet, "/admin/clients", nil, &out); err != nil {
			return err
		}
		printClients(stdout, out)
		return nil
	case "delete":
		pos, err := positionals(fs, args[1:], 1, "clients delete needs exactly one client ID")
		if err != nil {
			return err
		}
		if err := client.do(ctx, http.MethodDelete, "/admin/clients/"+url.PathEscape(pos[0]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted client %s\n", pos[0])
		return nil
	default:
		return usageError{msg: fmt.Sprintf("unknown clients subcommand %q", args[0])}
	}
}

func clientsAdd(ctx context.Context, fs *flag.FlagSet, client *adminClient, args []string, stdout io.Writer) error {
	var redirects, postLogout stringList
	id := fs.String("id", "", "client_id (default: generated)")
	name := fs.String("name", "", "client name shown to users")
	secret := fs.String("secret", "", "client secret, at least 32 characters (default: generated, which is better)")
	fs.Var(&redirects, "redirect-uri", "redirect URI (repeatable)")
	fs.Var(&postLogout, "post-logout-redirect-uri", "post-logout redirect URI (repeatable)")
	method := fs.String("auth-method", "", "token endpoint auth method: client_secret_basic, client_secret_post, none or private_key_jwt (required)")
	grants := fs.String("grant-types", "", "comma-separated: authorization_code, refresh_token, client_credentials (required)")
	skipConsent := fs.Bool("skip-consent", false, "first-party client: do not ask users for consent")
	alg := fs.String("id-token-alg", "", "ID token signing algorithm (default RS256)")
	jwksFile := fs.String("jwks-file", "", "file holding the client's public JWK set (private_key_jwt)")
	requirePKCE := fs.Bool("require-pkce", true, "authorization requests must use PKCE (S256); --require-pkce=false only for a confidential legacy client")
	_, err := positionals(fs, args, 0, "clients add takes flags only")
	if err != nil {
		return err
	}
	if *method == "" {
		return usageError{msg: "clients add needs --auth-method"}
	}
	if strings.TrimSpace(*grants) == "" {
		return usageError{msg: "clients add needs --grant-types"}
	}
	body := management.NewClientRequest{ClientID: *id, ClientSecret: *secret, ClientMetadata: directory.ClientMetadata{
		Name:                     *name,
		RedirectURIs:             redirects,
		PostLogoutRedirectURIs:   postLogout,
		AuthMethod:               *method,
		IDTokenSignedResponseAlg: *alg,
		SkipConsent:              *skipConsent,
		RequirePKCE:              requirePKCE,
	}}
	for _, g := range strings.Split(*grants, ",") {
		if g = strings.TrimSpace(g); g != "" {
			body.GrantTypes = append(body.GrantTypes, g)
		}
	}
	if *jwksFile != "" {
		b, err := os.ReadFile(*jwksFile)
		if err != nil {
			return fmt.Errorf("--jwks-file: %w", err)
		}
		if !json.Valid(b) {
			return usageError{msg: "--jwks-file: not JSON"}
		}
		body.JWKS = b
	}
	var out management.ClientView
	if err := client.do(ctx, http.MethodPost, "/admin/clients", body, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "client_id:     %s\n", out.ClientID)
	if out.ClientSecret != "" {
		fmt.Fprintf(stdout, "client_secret: %s\n", out.ClientSecret)
		fmt.Fprintln(stdout, "The secret is shown only this once: authrim keeps just a hash of it.")
	}
	return nil
}

func printClients(w io.Writer, v management.ClientsView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT_ID\tNAME\tAUTH METHOD\tGRANT TYPES\tSOURCE")
	for _, c := range v.Clients {
		name, source := c.Name, "admin API"
		if name == "" {
			name = "-"
		}
		if c.Static {
			source = "config.yaml"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ClientID, name, c.AuthMethod, strings.Join(c.GrantTypes, ","), source)
	}
	tw.Flush()
}
