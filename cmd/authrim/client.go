package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"authrim/http/oauth2"
)

// adminClient calls a node's admin API.
type adminClient struct {
	server, token string
	// insecure allows plain http to a host that is not loopback.
	insecure bool
	http     *http.Client
	// serverFlag and tokenFlag tell whether the flags were given: the
	// environment supplies them otherwise. (Read at run time, so that
	// help never prints a token taken from the environment.)
	serverFlag, tokenFlag *pflag.Flag
}

// adminFlags adds --server, --admin-token and --insecure to cmd, as
// persistent flags: every subcommand of a group takes them.
func adminFlags(cmd *cobra.Command) *adminClient {
	c := &adminClient{http: &http.Client{Timeout: 30 * time.Second}}
	f := cmd.PersistentFlags()
	f.StringVar(&c.server, "server", "", "node base URL (default $AUTHRIM_SERVER, else http://localhost:8080)")
	f.StringVar(&c.token, "admin-token", "", "admin API bearer token, the node's admin.token (default $AUTHRIM_ADMIN_TOKEN)")
	f.BoolVar(&c.insecure, "insecure", false, "send the admin token over plain http to a host that is not loopback")
	c.serverFlag, c.tokenFlag = f.Lookup("server"), f.Lookup("admin-token")
	return c
}

// resolve fills what the flags left to the environment.
func (c *adminClient) resolve() {
	if c.serverFlag == nil || !c.serverFlag.Changed {
		c.server = envOr("AUTHRIM_SERVER", "http://localhost:8080")
	}
	if c.tokenFlag == nil || !c.tokenFlag.Changed {
		c.token = strings.TrimSpace(os.Getenv("AUTHRIM_ADMIN_TOKEN"))
	}
}

// newRequest is a request to the admin API carrying the token. It refuses
// to send the token in plaintext across a network: plain http only to a
// loopback host, unless --insecure.
func (c *adminClient) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	c.resolve()
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

// show GETs an admin object at path and prints it: the admin API's JSON
// indented with asJSON, else one member per line (printClient).
func show(ctx context.Context, std *cli, client *adminClient, path string, asJSON bool) error {
	var out json.RawMessage
	if err := client.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return err
	}
	if !asJSON {
		return printClient(std.stdout, out)
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		return err
	}
	return printJSON(std.stdout, v)
}

// printJSON writes v indented (the --json of the show commands).
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
