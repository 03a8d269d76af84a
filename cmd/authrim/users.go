package main

import (
	"bufio"
	"encoding/json"
	"errors"
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
	"golang.org/x/term"

	"authrim/directory"
	"authrim/http/management"
)

// userClaimFlags are the string claims `users add` and `users update`
// take as flags; the rest (address, ...) go through --claims.
var userClaimFlags = []struct{ flag, claim, help string }{
	{"email", "email", "email address"},
	{"name", "name", "full name"},
	{"given-name", "given_name", "given name"},
	{"family-name", "family_name", "family name"},
	{"middle-name", "middle_name", "middle name"},
	{"nickname", "nickname", "nickname"},
	{"preferred-username", "preferred_username", "shorthand name shown to relying parties"},
	{"profile", "profile", "profile page URL"},
	{"picture", "picture", "picture URL"},
	{"website", "website", "web page URL"},
	{"gender", "gender", "gender"},
	{"birthdate", "birthdate", "birthday, YYYY-MM-DD or YYYY"},
	{"zoneinfo", "zoneinfo", "time zone, e.g. Europe/Paris"},
	{"locale", "locale", "locale, e.g. fr-FR"},
	{"phone", "phone_number", "phone number, e.g. +33 1 23 45 67 89"},
}

const passwordHelp = "the password; other local users can read it in the process list: prefer --password-stdin or the prompt"

func usersCmd(std *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Add, show, update, disable and delete users",
		Long: `Users of a running node (admin API, /admin/users). USER is a username
(compared without case) or a subject.

Disabling or deleting a user ends at once what they have: sessions, codes,
refresh and access tokens, on every node. So does setting their password.
'users sessions' lists where a user is signed in and ends sessions.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	client := adminFlags(cmd)
	cmd.AddCommand(
		usersAdd(std, client),
		usersList(std, client),
		usersShow(std, client),
		usersUpdate(std, client),
		usersSetPassword(std, client),
		usersDelete(std, client),
		usersSetDisabled(std, client, "disable", "Stop a user signing in; their sessions and tokens end at once"),
		usersSetDisabled(std, client, "enable", "Let a disabled user sign in again (old sessions stay ended)"),
		usersSetAdmin(std, client, "grant-admin", http.MethodPost, "granted the admin role to",
			"Let a user into the admin console (/admin/); the admin token makes the first admin"),
		usersSetAdmin(std, client, "revoke-admin", http.MethodDelete, "revoked the admin role of",
			"Take a user's admin role away; their next console request is refused"),
		usersPasskeys(std, client),
		usersMFA(std, client),
		usersSessions(std, client),
		usersVerifyEmail(std, client),
		usersInvite(std, client),
	)
	return cmd
}

// claimFlags are the claim flags of add and update.
type claimFlags struct {
	values        []string
	claimsJSON    string
	emailVerified bool
	phoneVerified bool
}

func addClaimFlags(cmd *cobra.Command) *claimFlags {
	c := &claimFlags{values: make([]string, len(userClaimFlags))}
	f := cmd.Flags()
	for i, cf := range userClaimFlags {
		f.StringVar(&c.values[i], cf.flag, "", cf.help)
	}
	f.StringVar(&c.claimsJSON, "claims", "", `more claims as a JSON object, e.g. '{"address":{"country":"FR"}}'`)
	f.BoolVar(&c.emailVerified, "email-verified", false, "mark the email address as verified")
	f.BoolVar(&c.phoneVerified, "phone-verified", false, "mark the phone number as verified")
	return c
}

// claims collects the claims the command line sets; a claim given twice
// (a flag and --claims) is a usage error.
func (c *claimFlags) claims(cmd *cobra.Command) (map[string]any, error) {
	claims := map[string]any{}
	if c.claimsJSON != "" {
		dec := json.NewDecoder(strings.NewReader(c.claimsJSON))
		if err := dec.Decode(&claims); err != nil || dec.More() || claims == nil {
			return nil, usageError{msg: "--claims must be a JSON object"}
		}
	}
	set := func(flagName, claim string, v any) error {
		if _, dup := claims[claim]; dup {
			return usageError{msg: fmt.Sprintf("claim %s is given by --%s and in --claims", claim, flagName)}
		}
		claims[claim] = v
		return nil
	}
	for i, f := range userClaimFlags {
		if cmd.Flags().Changed(f.flag) {
			if err := set(f.flag, f.claim, c.values[i]); err != nil {
				return nil, err
			}
		}
	}
	if cmd.Flags().Changed("email-verified") {
		if err := set("email-verified", "email_verified", c.emailVerified); err != nil {
			return nil, err
		}
	}
	if cmd.Flags().Changed("phone-verified") {
		if err := set("phone-verified", "phone_number_verified", c.phoneVerified); err != nil {
			return nil, err
		}
	}
	return claims, nil
}

// passwordFlags are --password and --password-stdin.
type passwordFlags struct {
	password  string
	fromStdin bool
}

func addPasswordFlags(cmd *cobra.Command) *passwordFlags {
	p := &passwordFlags{}
	cmd.Flags().StringVar(&p.password, "password", "", passwordHelp)
	cmd.Flags().BoolVar(&p.fromStdin, "password-stdin", false, "read the password from the first line of standard input")
	return p
}

// read returns the password: from --password, from standard input with
// --password-stdin, else asked for (twice, without echo) when standard
// input is a terminal.
func (p *passwordFlags) read(cmd *cobra.Command, std *cli, name string) (string, error) {
	given := cmd.Flags().Changed("password")
	switch {
	case given && p.fromStdin:
		return "", usageError{msg: name + " takes --password or --password-stdin, not both"}
	case p.fromStdin:
		return readPassword(std.stdin)
	case given:
		return p.password, nil
	}
	f, ok := std.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageError{msg: name + " needs --password or --password-stdin (or a terminal to ask on)"}
	}
	return promptPassword(f, std.stderr)
}

// promptPassword asks for a new password twice on the terminal in.
func promptPassword(in *os.File, prompt io.Writer) (string, error) {
	ask := func(label string) (string, error) {
		fmt.Fprint(prompt, label)
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	first, err := ask("New password: ")
	if err != nil {
		return "", err
	}
	if first == "" {
		return "", usageError{msg: "no password given"}
	}
	again, err := ask("Repeat it: ")
	if err != nil {
		return "", err
	}
	if again != first {
		return "", usageError{msg: "the two passwords differ"}
	}
	return first, nil
}

// readPassword reads the first line of r, without its line ending (as
// `docker login --password-stdin` does), so `echo pw | authrim users add`
// and a file holding the password both work.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", usageError{msg: "--password-stdin: no standard input"}
	}
	br := bufio.NewReaderSize(io.LimitReader(r, directory.MaxPasswordLen+3), directory.MaxPasswordLen+3)
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", usageError{msg: "--password-stdin: standard input holds no password"}
	}
	// Longer passwords are refused by the server; say it without sending.
	if len(line) > directory.MaxPasswordLen {
		return "", usageError{msg: fmt.Sprintf("--password-stdin: password longer than %d bytes", directory.MaxPasswordLen)}
	}
	return line, nil
}

func usersAdd(std *cli, client *adminClient) *cobra.Command {
	var username string
	cmd := &cobra.Command{
		Use:   "add --username U [--password-stdin | --password P] [claims]",
		Short: "Create a user (claims: OIDC standard claims)",
		Example: `  echo 'a long passphrase' | authrim users add --username alice --password-stdin \
      --email alice@example.com --email-verified --name 'Alice Liddell'`,
		Args: nArgs(0, "users add takes flags only (--username, --password-stdin or --password, claims)"),
	}
	cmd.Flags().StringVar(&username, "username", "", "the name the user signs in with (required)")
	pw := addPasswordFlags(cmd)
	cf := addClaimFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if username == "" {
			return usageError{msg: "users add needs --username"}
		}
		claims, err := cf.claims(cmd)
		if err != nil {
			return err
		}
		password, err := pw.read(cmd, std, "users add")
		if err != nil {
			return err
		}
		if len(claims) == 0 {
			claims = nil
		}
		var out management.UserView
		body := management.NewUserRequest{Username: username, Password: password, Claims: claims}
		if err := client.do(cmd.Context(), http.MethodPost, "/admin/users", body, &out); err != nil {
			return err
		}
		fmt.Fprintf(std.stdout, "created user %s (sub %s)\n", out.Username, out.Subject)
		return nil
	}
	return cmd
}

func usersList(std *cli, client *adminClient) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List users (STATE: enabled or disabled)",
		Args:  nArgs(0, "users list takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out management.UsersView
			if err := client.do(cmd.Context(), http.MethodGet, "/admin/users", nil, &out); err != nil {
				return err
			}
			printUsers(std.stdout, out)
			return nil
		},
	}
}

func usersShow(std *cli, client *adminClient) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show USER",
		Short: "Show a user: subject, state, dates and claims",
		Args:  nArgs(1, "users show needs exactly one USER (username or subject)"),
		RunE: func(cmd *cobra.Command, a []string) error {
			var u management.UserView
			if err := client.do(cmd.Context(), http.MethodGet, "/admin/users/"+url.PathEscape(a[0]), nil, &u); err != nil {
				return err
			}
			if asJSON {
				return printJSON(std.stdout, u)
			}
			printUser(std.stdout, u)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	return cmd
}

func usersUpdate(std *cli, client *adminClient) *cobra.Command {
	var unset []string
	cmd := &cobra.Command{
		Use:   "update USER [claims] [--unset CLAIM ...]",
		Short: "Change a user's claims (email, name, ...); updated_at moves",
		Long: `Change a user's claims. Each claim given replaces the stored one; --unset
removes one; claims not named keep their value. The result is checked like
a new user's claims (OIDC Core §5.1 standard claims only).`,
		Example: `  authrim users update alice --email alice@example.org --email-verified
  authrim users update alice --claims '{"address":{"locality":"Oxford"}}' --unset nickname`,
		Args: nArgs(1, "users update needs exactly one USER (username or subject)"),
	}
	cf := addClaimFlags(cmd)
	cmd.Flags().StringArrayVar(&unset, "unset", nil, "remove this claim (repeatable)")
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		claims, err := cf.claims(cmd)
		if err != nil {
			return err
		}
		for _, name := range unset {
			if _, dup := claims[name]; dup {
				return usageError{msg: fmt.Sprintf("claim %s is both set and --unset", name)}
			}
			claims[name] = nil
		}
		if len(claims) == 0 {
			return usageError{msg: "users update needs a claim to change (--email, --name, ..., --claims or --unset)"}
		}
		var u management.UserView
		if err := client.do(cmd.Context(), http.MethodPatch, "/admin/users/"+url.PathEscape(a[0]), management.UpdateUserRequest{Claims: claims}, &u); err != nil {
			return err
		}
		fmt.Fprintf(std.stdout, "updated user %s (%s)\n", u.Username, u.Subject)
		return nil
	}
	return cmd
}

func usersSetPassword(std *cli, client *adminClient) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set-password USER [--password-stdin]",
		Short: "Set a user's password; their sessions and tokens end",
		Long: `Set a user's password (argon2id, the node's current parameters). Every
sign-in they made so far ends, as with a disable: whoever knew the old
password loses their session and tokens at once.

The password is read from standard input with --password-stdin, or asked
for on the terminal. --password works too, but other local users can read
it in the process list.`,
		Example: `  authrim users set-password alice            # asks twice on the terminal
  printf '%s\n' "$NEW_PASSWORD" | authrim users set-password alice --password-stdin`,
		Args: nArgs(1, "users set-password needs exactly one USER (username or subject)"),
	}
	pw := addPasswordFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		password, err := pw.read(cmd, std, "users set-password")
		if err != nil {
			return err
		}
		var u management.UserView
		path := "/admin/users/" + url.PathEscape(a[0]) + "/password"
		if err := client.do(cmd.Context(), http.MethodPut, path, management.SetPasswordRequest{Password: password}, &u); err != nil {
			return err
		}
		fmt.Fprintf(std.stdout, "set the password of user %s (%s); their earlier sessions and tokens are ended\n", u.Username, u.Subject)
		return nil
	}
	return cmd
}

func usersDelete(std *cli, client *adminClient) *cobra.Command {
	return &cobra.Command{
		Use:   "delete USER",
		Short: "Delete a user; their sessions and tokens end; the subject is never reused",
		Args:  nArgs(1, "users delete needs exactly one USER (username or subject)"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := client.do(cmd.Context(), http.MethodDelete, "/admin/users/"+url.PathEscape(a[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(std.stdout, "deleted user %s\n", a[0])
			return nil
		},
	}
}

// usersSetDisabled is `users disable` or `users enable`.
func usersSetDisabled(std *cli, client *adminClient, verb, short string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " USER",
		Short: short,
		Args:  nArgs(1, "users "+verb+" needs exactly one USER (username or subject)"),
		RunE: func(cmd *cobra.Command, a []string) error {
			var u management.UserView
			if err := client.do(cmd.Context(), http.MethodPost, "/admin/users/"+url.PathEscape(a[0])+"/"+verb, nil, &u); err != nil {
				return err
			}
			fmt.Fprintf(std.stdout, "%sd user %s (%s)\n", verb, u.Username, u.Subject)
			return nil
		},
	}
}

// usersSetAdmin is `users grant-admin` or `users revoke-admin`
// (POST or DELETE /admin/users/{id}/admin).
func usersSetAdmin(std *cli, client *adminClient, verb, method, done, short string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " USER",
		Short: short,
		Args:  nArgs(1, "users "+verb+" needs exactly one USER (username or subject)"),
		RunE: func(cmd *cobra.Command, a []string) error {
			var u management.UserView
			if err := client.do(cmd.Context(), method, "/admin/users/"+url.PathEscape(a[0])+"/admin", nil, &u); err != nil {
				return err
			}
			fmt.Fprintf(std.stdout, "%s %s (%s)\n", done, u.Username, u.Subject)
			return nil
		},
	}
}

// usersVerifyEmail mails the user a link that confirms their address
// (POST /admin/users/{id}/verify-email; the node needs smtp).
func usersVerifyEmail(std *cli, client *adminClient) *cobra.Command {
	return &cobra.Command{
		Use:   "verify-email USER",
		Short: "Mail the user a link that confirms their email address",
		Args:  nArgs(1, "users verify-email needs exactly one USER (username or subject)"),
		RunE: func(cmd *cobra.Command, a []string) error {
			var v management.VerificationView
			if err := client.do(cmd.Context(), http.MethodPost, "/admin/users/"+url.PathEscape(a[0])+"/verify-email", nil, &v); err != nil {
				return err
			}
			fmt.Fprintf(std.stdout, "verification link mailed to %s (%s)\n", v.SentTo, v.Subject)
			return nil
		},
	}
}

func usersInvite(std *cli, client *adminClient) *cobra.Command {
	var addr, username, lang string
	cmd := &cobra.Command{
		Use:   "invite --email ADDRESS [--username NAME] [--lang ja]",
		Short: "Open an account for an email address and mail its owner a link to choose the password",
		Long: `Invite someone by email (POST /admin/invitations; the node needs
registration.users: invite and smtp). The account is created at once
(named --username, or the address), with a password nobody knows; the
mailed link (accounts.invite_link_ttl, 72h by default) lets its owner
choose one, and confirms the address. Until then the account cannot
sign in.`,
		Example: `  authrim users invite --email ada@example.com
  authrim users invite --email kenji@example.jp --username kenji --lang ja`,
		Args: nArgs(0, "users invite takes no arguments: give --email"),
	}
	f := cmd.Flags()
	f.StringVar(&addr, "email", "", "the address to invite")
	f.StringVar(&username, "username", "", "the account's username (default: the address)")
	f.StringVar(&lang, "lang", "", "the invitation mail's language: en, ja, de or fr (default en)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if strings.TrimSpace(addr) == "" {
			return usageError{msg: "users invite needs --email"}
		}
		var v management.InvitationView
		in := management.InvitationRequest{Email: addr, Username: username, Lang: lang}
		if err := client.do(cmd.Context(), http.MethodPost, management.InvitationsPath, in, &v); err != nil {
			return err
		}
		fmt.Fprintf(std.stdout, "invited %s: user %s (%s); the link is on its way\n", v.SentTo, v.Username, v.Subject)
		return nil
	}
	return cmd
}

func printUsers(w io.Writer, v management.UsersView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tSUB\tEMAIL\tNAME\tCREATED\tSTATE")
	for _, u := range v.Users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.Subject, claimText(u.Claims, "email"), claimText(u.Claims, "name"),
			u.Created.Format(time.RFC3339), userState(u))
	}
	tw.Flush()
}

func userState(u management.UserView) string {
	if u.Disabled {
		return "disabled"
	}
	return "enabled"
}

func printUser(w io.Writer, u management.UserView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "username:\t%s\nsub:\t%s\nstate:\t%s\ncreated:\t%s\nupdated:\t%s\n",
		u.Username, u.Subject, userState(u), u.Created.Format(time.RFC3339), u.Updated.Format(time.RFC3339))
	names := make([]string, 0, len(u.Claims))
	for n := range u.Claims {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		fmt.Fprintln(tw, "claims:\tnone")
		tw.Flush()
		return
	}
	tw.Flush()
	fmt.Fprintln(w, "claims:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, n := range names {
		fmt.Fprintf(tw, "  %s:\t%s\n", n, valueText(u.Claims[n]))
	}
	tw.Flush()
}

// valueText is a claim value on one line: strings as they are, anything
// else as JSON.
func valueText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func claimText(claims map[string]any, name string) string {
	if s, ok := claims[name].(string); ok && s != "" {
		return s
	}
	return "-"
}

// usersPasskeys lists a user's passkeys, or deletes one with --delete.
func usersPasskeys(std *cli, client *adminClient) *cobra.Command {
	var del string
	cmd := &cobra.Command{
		Use:   "passkeys USER [--delete ID]",
		Short: "List a user's passkeys, or delete one (a lost or cloned authenticator)",
		Args:  nArgs(1, "users passkeys needs exactly one USER (username or subject)"),
	}
	cmd.Flags().StringVar(&del, "delete", "", "delete the passkey with this ID (as listed)")
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		deleting := cmd.Flags().Changed("delete")
		if deleting && del == "" {
			return usageError{msg: "--delete needs a passkey ID"}
		}
		user := a[0]
		path := "/admin/users/" + url.PathEscape(user) + "/passkeys"
		var list management.PasskeysView
		if err := client.do(cmd.Context(), http.MethodGet, path, nil, &list); err != nil {
			return err
		}
		if !deleting {
			printPasskeys(std.stdout, user, list)
			return nil
		}
		// The list is fetched first only to name the passkey in the
		// output; the server decides whether it exists.
		name := ""
		for _, p := range list.Passkeys {
			if p.ID == del {
				name = p.Name
			}
		}
		if err := client.do(cmd.Context(), http.MethodDelete, path+"/"+url.PathEscape(del), nil, nil); err != nil {
			return err
		}
		if name != "" {
			fmt.Fprintf(std.stdout, "deleted passkey %s (%q) of user %s\n", del, name, user)
		} else {
			fmt.Fprintf(std.stdout, "deleted passkey %s of user %s\n", del, user)
		}
		return nil
	}
	return cmd
}

func printPasskeys(w io.Writer, user string, v management.PasskeysView) {
	if len(v.Passkeys) == 0 {
		fmt.Fprintf(w, "user %s has no passkeys\n", user)
		return
	}
	const ts = time.RFC3339
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCREATED\tLAST USED\tBACKUP\tFLAGGED")
	for _, p := range v.Passkeys {
		last := "never"
		if p.LastUsed != nil {
			last = p.LastUsed.Format(ts)
		}
		backup := "no"
		switch {
		case p.BackupEligible && p.BackupState:
			backup = "eligible, backed up"
		case p.BackupEligible:
			backup = "eligible, not backed up"
		case p.BackupState:
			backup = "backed up" // BS without BE: not a valid combination, shown as is
		}
		flagged := "-"
		if p.Flagged {
			flagged = "yes"
			if p.FlaggedReason != "" {
				flagged += ": " + p.FlaggedReason
			}
			if p.FlaggedAt != nil {
				flagged += " (" + p.FlaggedAt.Format(ts) + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.Created.Format(ts), last, backup, flagged)
	}
	tw.Flush()
}

// usersMFA shows a user's second factors, or removes them with --reset
// (a lost phone and lost recovery codes).
func usersMFA(std *cli, client *adminClient) *cobra.Command {
	var reset bool
	cmd := &cobra.Command{
		Use:   "mfa USER [--reset]",
		Short: "Show a user's two-factor sign-in, or reset it (a lost phone and lost recovery codes)",
		Args:  nArgs(1, "users mfa needs exactly one USER (username or subject)"),
	}
	cmd.Flags().BoolVar(&reset, "reset", false, "remove the user's authenticator app and recovery codes")
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		user := a[0]
		path := "/admin/users/" + url.PathEscape(user) + "/mfa"
		if reset {
			if err := client.do(cmd.Context(), http.MethodDelete, path, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(std.stdout, "reset two-factor sign-in of user %s: authenticator app and recovery codes removed\n", user)
			return nil
		}
		var v management.MFAView
		if err := client.do(cmd.Context(), http.MethodGet, path, nil, &v); err != nil {
			return err
		}
		printMFA(std.stdout, user, v)
		return nil
	}
	return cmd
}

func printMFA(w io.Writer, user string, v management.MFAView) {
	if !v.TOTP {
		fmt.Fprintf(w, "user %s has no authenticator app\n", user)
		return
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "user %s: authenticator app since %s, last code %s\n", user, when(v.TOTPCreated), when(v.TOTPLastUsed))
	fmt.Fprintf(w, "recovery codes: %d of %d left, last used %s\n", v.RecoveryLeft, v.RecoveryTotal, when(v.RecoveryLastUsed))
}
