package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"authrim/directory"
	"authrim/http/management"
)

func clientsCmd(std *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Register, show, update and delete clients (relying parties)",
		Long: `Clients of a running node (admin API, /admin/clients), named by their
client_id. Clients listed in config.yaml (static) are shown but cannot be
changed here.

A client secret is shown once, when it is made (add, rotate-secret, or an
update that switches to a secret method): the node keeps only a hash.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	client := adminFlags(cmd)
	cmd.AddCommand(
		clientsAdd(std, client),
		clientsList(std, client),
		clientsShow(std, client),
		clientsUpdate(std, client),
		clientsRotateSecret(std, client),
		clientsDelete(std, client),
	)
	return cmd
}

// clientFlags are the metadata flags of add and update, with RFC 7591
// names in the request.
type clientFlags struct {
	name, method, grants, alg, jwksFile string
	redirects, postLogout               []string
	skipConsent, requirePKCE            bool
	// Logout notification (Back-Channel Logout 1.0 §2.2, Front-Channel
	// Logout 1.0 §2).
	backchannel, frontchannel               string
	backchannelSession, frontchannelSession bool
	// exchangeFile holds the token exchange policy (RFC 8693), JSON.
	exchangeFile string
	// dpop: the client must send DPoP proofs (RFC 9449 §5.2).
	dpop bool
	// mfaPolicy is the client's second-factor policy.
	mfaPolicy string
	// tls is what a tls_client_auth client's certificate must name, and
	// tlsBound binds its tokens to its certificate (RFC 8705).
	tls      directory.TLSClientAuth
	tlsBound bool
	// verifiedEmail: only users with a verified email sign in.
	verifiedEmail bool
}

func addClientFlags(cmd *cobra.Command, update bool) *clientFlags {
	c := &clientFlags{}
	f := cmd.Flags()
	list := "repeatable"
	if update {
		list = "repeatable; replaces the list"
	}
	f.StringVar(&c.name, "name", "", "client name shown to users")
	f.StringArrayVar(&c.redirects, "redirect-uri", nil, "redirect URI ("+list+")")
	f.StringArrayVar(&c.postLogout, "post-logout-redirect-uri", nil, "post-logout redirect URI ("+list+")")
	f.StringVar(&c.method, "auth-method", "", "token endpoint auth method: client_secret_basic, client_secret_post, none, private_key_jwt, tls_client_auth or self_signed_tls_client_auth")
	f.StringVar(&c.grants, "grant-types", "", "comma-separated: authorization_code, refresh_token, client_credentials, "+directory.GrantTypeTokenExchange+", "+directory.DeviceCodeGrantType)
	f.BoolVar(&c.skipConsent, "skip-consent", false, "first-party client: do not ask users for consent")
	f.StringVar(&c.alg, "id-token-alg", "", "ID token signing algorithm (default RS256)")
	f.StringVar(&c.jwksFile, "jwks-file", "", "file holding the client's public JWK set (private_key_jwt)")
	f.BoolVar(&c.requirePKCE, "require-pkce", true, "authorization requests must use PKCE (S256); --require-pkce=false only for a confidential legacy client")
	f.StringVar(&c.backchannel, "backchannel-logout-uri", "", "https URL the server POSTs a logout token to when a session of the client ends")
	f.BoolVar(&c.backchannelSession, "backchannel-logout-session-required", false, "logout tokens carry the session id (sid)")
	f.StringVar(&c.exchangeFile, "token-exchange-file", "", `file holding the client's token exchange policy, JSON: {"subject_token_types": [...], "audiences": [...], "scopes": [...], "allow_impersonation": false}`)
	f.StringVar(&c.frontchannel, "frontchannel-logout-uri", "", "URL the logout page loads in an iframe (on the origin of a redirect URI)")
	f.BoolVar(&c.frontchannelSession, "frontchannel-logout-session-required", false, "the iframe URL carries iss and sid query parameters")
	f.BoolVar(&c.dpop, "dpop-bound-access-tokens", false, "the client always uses DPoP: token requests without a DPoP proof are refused")
	f.StringVar(&c.mfaPolicy, "mfa-policy", "", "second factor for this client's sign-ins: none, optional or required (the stricter of it and mfa.policy applies; empty: mfa.policy)")
	f.StringVar(&c.tls.SubjectDN, "tls-client-auth-subject-dn", "", "tls_client_auth: the certificate's subject DN, RFC 4514 (openssl x509 -noout -subject -nameopt RFC2253)")
	f.StringVar(&c.tls.SANDNS, "tls-client-auth-san-dns", "", "tls_client_auth: a DNS name the certificate must carry")
	f.StringVar(&c.tls.SANURI, "tls-client-auth-san-uri", "", "tls_client_auth: a URI the certificate must carry")
	f.StringVar(&c.tls.SANIP, "tls-client-auth-san-ip", "", "tls_client_auth: an IP address the certificate must carry")
	f.StringVar(&c.tls.SANEmail, "tls-client-auth-san-email", "", "tls_client_auth: an email address the certificate must carry")
	f.BoolVar(&c.tlsBound, "tls-client-certificate-bound-access-tokens", false, "bind the client's tokens to its TLS client certificate (RFC 8705 §3)")
	f.BoolVar(&c.verifiedEmail, "require-verified-email", false, "only users whose email address is verified sign in to this client; others are offered the verification mail")
	return c
}

// orNull is s, or JSON null for "" (a PATCH member reset).
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func splitGrants(s string) []string {
	var out []string
	for _, g := range strings.Split(s, ",") {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}

func readJWKS(path string) (json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--jwks-file: %w", err)
	}
	if !json.Valid(b) {
		return nil, usageError{msg: "--jwks-file: not JSON"}
	}
	return b, nil
}

// readExchangePolicy reads --token-exchange-file: a JSON policy, or
// JSON null (update: remove the policy).
func readExchangePolicy(path string) (*directory.TokenExchangePolicy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--token-exchange-file: %w", err)
	}
	var p *directory.TokenExchangePolicy
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, usageError{msg: "--token-exchange-file: " + err.Error()}
	}
	return p, nil
}

func clientsAdd(std *cli, client *adminClient) *cobra.Command {
	var id, secret string
	cmd := &cobra.Command{
		Use:   "add --auth-method M --grant-types a,b [--id ID] [--redirect-uri URI ...] [...]",
		Short: "Register a client; prints its id and, once, its secret",
		Example: `  authrim clients add --id my-app --auth-method client_secret_basic \
      --redirect-uri http://localhost:3000/callback --grant-types authorization_code,refresh_token`,
		Args: nArgs(0, "clients add takes flags only"),
	}
	cmd.Flags().StringVar(&id, "id", "", "client_id (default: generated)")
	cmd.Flags().StringVar(&secret, "secret", "", "client secret, at least 32 characters (default: generated, which is better)")
	cf := addClientFlags(cmd, false)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if cf.method == "" {
			return usageError{msg: "clients add needs --auth-method"}
		}
		if strings.TrimSpace(cf.grants) == "" {
			return usageError{msg: "clients add needs --grant-types"}
		}
		body := management.NewClientRequest{ClientID: id, ClientSecret: secret, ClientMetadata: directory.ClientMetadata{
			Name:                     cf.name,
			RedirectURIs:             cf.redirects,
			PostLogoutRedirectURIs:   cf.postLogout,
			AuthMethod:               cf.method,
			GrantTypes:               splitGrants(cf.grants),
			IDTokenSignedResponseAlg: cf.alg,
			SkipConsent:              cf.skipConsent,

			BackchannelLogoutURI:              cf.backchannel,
			BackchannelLogoutSessionRequired:  cf.backchannelSession,
			FrontchannelLogoutURI:             cf.frontchannel,
			FrontchannelLogoutSessionRequired: cf.frontchannelSession,
			DPoPBoundAccessTokens:             cf.dpop,
			MFAPolicy:                         cf.mfaPolicy,
			TLSClientAuth:                     cf.tls,

			TLSClientCertificateBoundAccessTokens: cf.tlsBound,
			RequireVerifiedEmail:                  cf.verifiedEmail,
		}}
		body.RequirePKCE = &cf.requirePKCE
		if cf.jwksFile != "" {
			b, err := readJWKS(cf.jwksFile)
			if err != nil {
				return err
			}
			body.JWKS = directory.JWKS(b)
		}
		if cf.exchangeFile != "" {
			p, err := readExchangePolicy(cf.exchangeFile)
			if err != nil {
				return err
			}
			if p != nil {
				body.TokenExchange = *p
			}
		}
		var out management.ClientView
		if err := client.do(cmd.Context(), http.MethodPost, "/admin/clients", body, &out); err != nil {
			return err
		}
		printIssued(std.stdout, out)
		return nil
	}
	return cmd
}

// printIssued prints a client's id and the secret this call made, if any.
func printIssued(w io.Writer, v management.ClientView) {
	fmt.Fprintf(w, "client_id:     %s\n", v.ClientID)
	if v.ClientSecret != "" {
		fmt.Fprintf(w, "client_secret: %s\n", v.ClientSecret)
		fmt.Fprintln(w, "The secret is shown only this once: authrim keeps just a hash of it.")
	}
}

func clientsList(std *cli, client *adminClient) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List static (config.yaml) and registered clients",
		Args:  nArgs(0, "clients list takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out management.ClientsView
			if err := client.do(cmd.Context(), http.MethodGet, "/admin/clients", nil, &out); err != nil {
				return err
			}
			printClients(std.stdout, out)
			return nil
		},
	}
}

func clientsShow(std *cli, client *adminClient) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a client's metadata (never its secret)",
		Args:  nArgs(1, "clients show needs exactly one client ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd.Context(), std, client, "/admin/clients/"+url.PathEscape(a[0]), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	return cmd
}

func clientsUpdate(std *cli, client *adminClient) *cobra.Command {
	var metadata string
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change a registered client's metadata (redirect URIs, name, ...)",
		Long: `Change a registered client's metadata. Only the flags given change; a list
flag (--redirect-uri) replaces the whole list. --metadata takes any other
registration metadata as a JSON object, with RFC 7591 names (null resets a
member). The result is checked like a new client: a refused update changes
nothing. A switch to a secret method prints a new secret, once.`,
		Example: `  authrim clients update my-app --redirect-uri https://app.example/cb --redirect-uri http://localhost:3000/callback
  authrim clients update my-app --metadata '{"userinfo_signed_response_alg":"ES256"}'`,
		Args: nArgs(1, "clients update needs exactly one client ID"),
	}
	cf := addClientFlags(cmd, true)
	cmd.Flags().StringVar(&metadata, "metadata", "", "more metadata to change, as a JSON object (RFC 7591 names)")
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		patch := map[string]any{}
		if metadata != "" {
			dec := json.NewDecoder(strings.NewReader(metadata))
			if err := dec.Decode(&patch); err != nil || dec.More() || patch == nil {
				return usageError{msg: "--metadata must be a JSON object"}
			}
		}
		changed := cmd.Flags().Changed
		set := func(flag, member string, v any) error {
			if _, dup := patch[member]; dup {
				return usageError{msg: fmt.Sprintf("%s is given by --%s and in --metadata", member, flag)}
			}
			patch[member] = v
			return nil
		}
		for _, f := range []struct {
			flag, member string
			value        func() (any, error)
		}{
			{"name", "client_name", func() (any, error) { return cf.name, nil }},
			{"redirect-uri", "redirect_uris", func() (any, error) { return cf.redirects, nil }},
			{"post-logout-redirect-uri", "post_logout_redirect_uris", func() (any, error) { return cf.postLogout, nil }},
			{"auth-method", "token_endpoint_auth_method", func() (any, error) { return cf.method, nil }},
			{"grant-types", "grant_types", func() (any, error) { return splitGrants(cf.grants), nil }},
			{"skip-consent", "skip_consent", func() (any, error) { return cf.skipConsent, nil }},
			{"id-token-alg", "id_token_signed_response_alg", func() (any, error) { return cf.alg, nil }},
			{"require-pkce", "require_pkce", func() (any, error) { return cf.requirePKCE, nil }},
			{"jwks-file", "jwks", func() (any, error) { return readJWKS(cf.jwksFile) }},
			// An empty URI removes it (null resets the member).
			{"backchannel-logout-uri", "backchannel_logout_uri", func() (any, error) { return orNull(cf.backchannel), nil }},
			{"backchannel-logout-session-required", "backchannel_logout_session_required", func() (any, error) { return cf.backchannelSession, nil }},
			{"frontchannel-logout-uri", "frontchannel_logout_uri", func() (any, error) { return orNull(cf.frontchannel), nil }},
			{"frontchannel-logout-session-required", "frontchannel_logout_session_required", func() (any, error) { return cf.frontchannelSession, nil }},
			{"token-exchange-file", "token_exchange", func() (any, error) { return readExchangePolicy(cf.exchangeFile) }},
			{"dpop-bound-access-tokens", "dpop_bound_access_tokens", func() (any, error) { return cf.dpop, nil }},
			{"mfa-policy", "mfa_policy", func() (any, error) { return orNull(cf.mfaPolicy), nil }},
			{"tls-client-auth-subject-dn", "tls_client_auth_subject_dn", func() (any, error) { return orNull(cf.tls.SubjectDN), nil }},
			{"tls-client-auth-san-dns", "tls_client_auth_san_dns", func() (any, error) { return orNull(cf.tls.SANDNS), nil }},
			{"tls-client-auth-san-uri", "tls_client_auth_san_uri", func() (any, error) { return orNull(cf.tls.SANURI), nil }},
			{"tls-client-auth-san-ip", "tls_client_auth_san_ip", func() (any, error) { return orNull(cf.tls.SANIP), nil }},
			{"tls-client-auth-san-email", "tls_client_auth_san_email", func() (any, error) { return orNull(cf.tls.SANEmail), nil }},
			{"tls-client-certificate-bound-access-tokens", "tls_client_certificate_bound_access_tokens", func() (any, error) { return cf.tlsBound, nil }},
			{"require-verified-email", "require_verified_email", func() (any, error) { return cf.verifiedEmail, nil }},
		} {
			if !changed(f.flag) {
				continue
			}
			v, err := f.value()
			if err != nil {
				return err
			}
			if err := set(f.flag, f.member, v); err != nil {
				return err
			}
		}
		if _, ok := patch["client_secret"]; ok {
			return usageError{msg: "a client secret is not set by an update: use clients rotate-secret"}
		}
		if len(patch) == 0 {
			return usageError{msg: "clients update needs something to change (flags or --metadata)"}
		}
		var out management.ClientView
		if err := client.do(cmd.Context(), http.MethodPatch, "/admin/clients/"+url.PathEscape(a[0]), patch, &out); err != nil {
			return err
		}
		fmt.Fprintf(std.stdout, "updated client %s\n", out.ClientID)
		if out.ClientSecret != "" {
			printIssued(std.stdout, out)
		}
		return nil
	}
	return cmd
}

func clientsRotateSecret(std *cli, client *adminClient) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-secret ID",
		Short: "Give a client a new generated secret, printed once; the old one stops working",
		Long: `Give a client_secret_basic or client_secret_post client a new generated
secret (256 bits). It is printed once; the node keeps only its hash, and the
old secret stops working at once: update the client's configuration right
after. Tokens already issued stay valid.`,
		Args: nArgs(1, "clients rotate-secret needs exactly one client ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			var out management.ClientView
			path := "/admin/clients/" + url.PathEscape(a[0]) + "/rotate-secret"
			if err := client.do(cmd.Context(), http.MethodPost, path, nil, &out); err != nil {
				return err
			}
			printIssued(std.stdout, out)
			return nil
		},
	}
}

func clientsDelete(std *cli, client *adminClient) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a registered client",
		Args:  nArgs(1, "clients delete needs exactly one client ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := client.do(cmd.Context(), http.MethodDelete, "/admin/clients/"+url.PathEscape(a[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(std.stdout, "deleted client %s\n", a[0])
			return nil
		},
	}
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

// clientFirst are the members printClient shows first, in this order;
// the others follow sorted.
var clientFirst = []string{"client_id", "client_name", "static", "token_endpoint_auth_method", "grant_types",
	"redirect_uris", "post_logout_redirect_uris", "require_pkce", "skip_consent", "id_token_signed_response_alg"}

// printClient prints every member of a client view that has a value, one
// per line (the view's fields change with the registration metadata the
// node supports, so it is walked as JSON rather than typed here).
func printClient(w io.Writer, raw json.RawMessage) error {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	names := make([]string, 0, len(m))
	for k := range m {
		if !slices.Contains(clientFirst, k) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range append(slices.Clone(clientFirst), names...) {
		v, ok := m[k]
		if !ok || v == nil || v == "" {
			continue
		}
		if n, ok := v.(float64); ok && k == "client_id_issued_at" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, time.Unix(int64(n), 0).UTC().Format(time.RFC3339))
			continue
		}
		if k == "static" {
			source := "admin API"
			if v == true {
				source = "config.yaml (static: change it there)"
			}
			fmt.Fprintf(tw, "source:\t%s\n", source)
			continue
		}
		if list, ok := v.([]any); ok {
			items := make([]string, len(list))
			for i, it := range list {
				items[i] = valueText(it)
			}
			v = strings.Join(items, ", ")
			if len(list) == 0 {
				v = "-"
			}
		}
		fmt.Fprintf(tw, "%s:\t%s\n", k, valueText(v))
	}
	return tw.Flush()
}
