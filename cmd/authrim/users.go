package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"authrim/directory"
	"authrim/http/management"
)

// userClaimFlags are the string claims `users add` takes as flags; the
// rest (address, ...) go through --claims.
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

func usersCmd(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{msg: "users needs a subcommand: add, list, delete, disable, enable or passkeys"}
	}
	fs := flag.NewFlagSet("users "+args[0], flag.ContinueOnError)
	client := adminFlags(fs)
	switch args[0] {
	case "add":
		return usersAdd(ctx, fs, client, args[1:], stdin, stdout)
	case "list":
		_, err := positionals(fs, args[1:], 0, "users list takes no arguments")
		if err != nil {
			return err
		}
		var out management.UsersView
		if err := client.do(ctx, http.MethodGet, "/admin/users", nil, &out); err != nil {
			return err
		}
		printUsers(stdout, out)
		return nil
	case "delete":
		pos, err := positionals(fs, args[1:], 1, "users delete needs exactly one USER (username or subject)")
		if err != nil {
			return err
		}
		if err := client.do(ctx, http.MethodDelete, "/admin/users/"+url.PathEscape(pos[0]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted user %s\n", pos[0])
		return nil
	case "disable", "enable":
		pos, err := positionals(fs, args[1:], 1, "users "+args[0]+" needs exactly one USER (username or subject)")
		if err != nil {
			return err
		}
		var u management.UserView
		if err := client.do(ctx, http.MethodPost, "/admin/users/"+url.PathEscape(pos[0])+"/"+args[0], nil, &u); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%sd user %s (%s)\n", args[0], u.Username, u.Subject)
		return nil
	case "passkeys":
		return usersPasskeys(ctx, fs, client, args[1:], stdout)
	default:
		return usageError{msg: fmt.Sprintf("unknown users subcommand %q", args[0])}
	}
}

func usersAdd(ctx context.Context, fs *flag.FlagSet, client *adminClient, args []string, stdin io.Reader, stdout io.Writer) error {
	username := fs.String("username", "", "the name the user signs in with (required)")
	password := fs.String("password", "", "the password (visible to other local users in the process list: prefer --password-stdin)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	claimsJSON := fs.String("claims", "", `more claims as a JSON object, e.g. '{"address":{"country":"FR"}}'`)
	emailVerified := fs.Bool("email-verified", false, "mark the email address as verified")
	phoneVerified := fs.Bool("phone-verified", false, "mark the phone number as verified")
	values := make([]*string, len(userClaimFlags))
	for i, f := range userClaimFlags {
		values[i] = fs.String(f.flag, "", f.help)
	}
	_, err := positionals(fs, args, 0, "users add takes flags only (--username, --password or --password-stdin, claims)")
	if err != nil {
		return err
	}
	if *username == "" {
		return usageError{msg: "users add needs --username"}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["password"] && *fromStdin:
		return usageError{msg: "users add takes --password or --password-stdin, not both"}
	case *fromStdin:
		if *password, err = readPassword(stdin); err != nil {
			return err
		}
	case !set["password"]:
		return usageError{msg: "users add needs --password or --password-stdin"}
	}

	claims := map[string]any{}
	if *claimsJSON != "" {
		dec := json.NewDecoder(strings.NewReader(*claimsJSON))
		if err := dec.Decode(&claims); err != nil || dec.More() || claims == nil {
			return usageError{msg: "--claims must be a JSON object"}
		}
	}
	setClaim := func(flagName, claim string, v any) error {
		if _, dup := claims[claim]; dup {
			return usageError{msg: fmt.Sprintf("claim %s is given by --%s and in --claims", claim, flagName)}
		}
		claims[claim] = v
		return nil
	}
	for i, f := range userClaimFlags {
		if set[f.flag] {
			if err := setClaim(f.flag, f.claim, *values[i]); err != nil {
				return err
			}
		}
	}
	if set["email-verified"] {
		if err := setClaim("email-verified", "email_verified", *emailVerified); err != nil {
			return err
		}
	}
	if set["phone-verified"] {
		if err := setClaim("phone-verified", "phone_number_verified", *phoneVerified); err != nil {
			return err
		}
	}
	if len(claims) == 0 {
		claims = nil
	}

	var out management.UserView
	body := management.NewUserRequest{Username: *username, Password: *password, Claims: claims}
	if err := client.do(ctx, http.MethodPost, "/admin/users", body, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created user %s (sub %s)\n", out.Username, out.Subject)
	return nil
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

func printUsers(w io.Writer, v management.UsersView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tSUB\tEMAIL\tNAME\tCREATED\tSTATE")
	for _, u := range v.Users {
		state := "enabled"
		if u.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.Subject, claimText(u.Claims, "email"), claimText(u.Claims, "name"),
			u.Created.Format("2006-01-02T15:04:05Z07:00"), state)
	}
	tw.Flush()
}

func claimText(claims map[string]any, name string) string {
	if s, ok := claims[name].(string); ok && s != "" {
		return s
	}
	return "-"
}

// usersPasskeys lists a user's passkeys, or deletes one with --delete.
func usersPasskeys(ctx context.Context, fs *flag.FlagSet, client *adminClient, args []string, stdout io.Writer) error {
	del := fs.String("delete", "", "delete the passkey with this ID (as listed)")
	pos, err := positionals(fs, args, 1, "users passkeys needs exactly one USER (username or subject)")
	if err != nil {
		return err
	}
	deleting := false
	fs.Visit(func(f *flag.Flag) { deleting = deleting || f.Name == "delete" })
	if deleting && *del == "" {
		return usageError{msg: "--delete needs a passkey ID"}
	}
	user := pos[0]
	path := "/admin/users/" + url.PathEscape(user) + "/passkeys"
	var list management.PasskeysView
	if err := client.do(ctx, http.MethodGet, path, nil, &list); err != nil {
		return err
	}
	if !deleting {
		printPasskeys(stdout, user, list)
		return nil
	}
	// The list is fetched first only to name the passkey in the output;
	// the server decides whether it exists.
	name := ""
	for _, p := range list.Passkeys {
		if p.ID == *del {
			name = p.Name
		}
	}
	if err := client.do(ctx, http.MethodDelete, path+"/"+url.PathEscape(*del), nil, nil); err != nil {
		return err
	}
	if name != "" {
		fmt.Fprintf(stdout, "deleted passkey %s (%q) of user %s\n", *del, name, user)
	} else {
		fmt.Fprintf(stdout, "deleted passkey %s of user %s\n", *del, user)
	}
	return nil
}

func printPasskeys(w io.Writer, user string, v management.PasskeysView) {
	if len(v.Passkeys) == 0 {
		fmt.Fprintf(w, "user %s has no passkeys\n", user)
		return
	}
	const ts = "2006-01-02T15:04:05Z07:00"
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
