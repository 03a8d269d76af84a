package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"authrim/http/management"
	"authrim/http/oauth2"
)

// adminClient calls a node's admin API.
type adminClient struct {
	server, token string
	// insecure allows plain http to a host that is not loopback.
	insecure bool
	http     *http.Client
}

func adminFlags(fs *flag.FlagSet) *adminClient {
	c := &adminClient{http: &http.Client{Timeout: 30 * time.Second}}
	fs.StringVar(&c.server, "server", envOr("AUTHRIM_SERVER", "http://localhost:8080"), "node base URL")
	fs.StringVar(&c.token, "admin-token", envOr("AUTHRIM_ADMIN_TOKEN", ""), "admin API bearer token")
	fs.BoolVar(&c.insecure, "insecure", false, "send the admin token over plain http to a host that is not loopback")
	return c
}

// newRequest is a request to the admin API carrying the token. It refuses
// to send the token in plaintext across a network: plain http only to a
// loopback host, unless --insecure.
func (c *adminClient) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	if c.token == "" {
		return nil, usageError{msg: "no admin token: pass --admin-token or set AUTHRIM_ADMIN_TOKEN"}
	}
	u, err := url.Parse(strings.TrimSuffix(c.server, "/") + path)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{msg: fmt.Sprintf("--server %q is not an http(s) URL", c.server)}
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) && !c.insecure {
		return nil, usageError{msg: fmt.Sprintf("refusing to send the admin token in plaintext to %s: use https (or an SSH tunnel to admin.listen), or pass --insecure", u.Host)}
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	return req, nil
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *adminClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e oauth2.Error
		if json.Unmarshal(b, &e) == nil && e.Code != "" {
			return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, e.Error())
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	// 201 Created answers a create, 204 No Content a delete.
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	return json.Unmarshal(b, out)
}

func keysCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{msg: "keys needs a subcommand: list, rotate or revoke"}
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	client := adminFlags(fs)
	alg := fs.String("alg", "", "algorithm to rotate (default all)")
	reason := fs.String("reason", "", "why the key is revoked (kept in the key record)")
	rest := args[1:]
	var kid []string
	if args[0] == "revoke" {
		kid, rest = takeKID(fs, rest)
	}
	pos, err := parseArgs(fs, rest)
	if err != nil {
		return err
	}
	pos = append(kid, pos...)
	var out management.KeysView
	switch args[0] {
	case "list":
		if len(pos) != 0 {
			return usageError{msg: "keys list takes no arguments"}
		}
		err = client.do(ctx, http.MethodGet, "/admin/keys", nil, &out)
	case "rotate":
		if len(pos) != 0 {
			return usageError{msg: "keys rotate takes no arguments"}
		}
		err = client.do(ctx, http.MethodPost, "/admin/keys/rotate", map[string]string{"alg": *alg}, &out)
	case "revoke":
		if len(pos) != 1 {
			return usageError{msg: "keys revoke needs exactly one KID"}
		}
		if strings.TrimSpace(*reason) == "" {
			return usageError{msg: "keys revoke needs --reason"}
		}
		err = client.do(ctx, http.MethodPost, "/admin/keys/"+url.PathEscape(pos[0])+"/revoke", map[string]string{"reason": *reason}, &out)
	default:
		return usageError{msg: fmt.Sprintf("unknown keys subcommand %q", args[0])}
	}
	if err != nil {
		return err
	}
	printKeys(stdout, out)
	return nil
}

// takeKID finds the KID among the arguments of `keys revoke`: the first
// one that is neither a flag defined in fs nor a flag's value. A KID may
// start with "-" (base64url), which the flag package would take for an
// unknown flag; "--" still works and ends the flags as usual.
func takeKID(fs *flag.FlagSet, args []string) (kid, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if i+1 < len(args) {
				return args[i+1 : i+2], append(slices.Clone(args[:i]), args[i+2:]...)
			}
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			continue // the flag package's help
		}
		if f, hasValue := definedFlag(fs, a); f != nil {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) {
				i++ // the flag's value
			}
			continue
		}
		return args[i : i+1], append(slices.Clone(args[:i]), args[i+1:]...)
	}
	return nil, args
}

// definedFlag returns the flag of fs that arg names ("-name", "--name",
// "-name=value"), and whether arg carries the value.
func definedFlag(fs *flag.FlagSet, arg string) (*flag.Flag, bool) {
	name, ok := strings.CutPrefix(arg, "-")
	if !ok {
		return nil, false
	}
	name = strings.TrimPrefix(name, "-")
	name, _, hasValue := strings.Cut(name, "=")
	if name == "" || strings.HasPrefix(name, "-") {
		return nil, false
	}
	return fs.Lookup(name), hasValue
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

func ts(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
