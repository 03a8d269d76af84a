package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"authrim/config"
)

// defaultHealthURL is the readiness endpoint of a node on the default
// http.listen port, as seen from inside its own container.
const defaultHealthURL = "http://127.0.0.1:8080/readyz"

// configHealthURL is the readiness URL of the node the configuration
// describes (the file of $AUTHRIM_CONFIG and AUTHRIM_* variables, as
// serve reads them): its http.listen, reached on loopback when it listens
// on every interface. ok is false when the configuration does not load.
func configHealthURL() (string, bool) {
	cfg, err := config.Load(os.Getenv("AUTHRIM_CONFIG"), os.Environ())
	if err != nil {
		return "", false
	}
	host, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		return "", false
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", true
}

// healthcheckCmd asks a node whether it is ready. It exists for images
// without a shell or curl (the FROM scratch image): a container
// runtime's HEALTHCHECK runs `authrim healthcheck` and reads the exit
// code.
func healthcheckCmd(std *cli) *cobra.Command {
	var rawURL string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck [--url URL] [--timeout D]",
		Short: "Exit 0 if the node answers 200 at its readiness URL, else 1",
		Long: `Exit 0 if the node answers 200 at --url, 1 otherwise (no answer, an error
status, a redirect, the timeout). For HEALTHCHECK in images without a
shell: /readyz is "can take traffic", /healthz "the process lives".

Without --url it asks /readyz at the node's http.listen, read from the
configuration as serve reads it ($AUTHRIM_CONFIG, then AUTHRIM_*
variables; 127.0.0.1 when it listens on every interface), or
` + defaultHealthURL + ` if the configuration does not load.`,
		Example: `  authrim healthcheck
  authrim healthcheck --url http://127.0.0.1:8080/healthz --timeout 2s`,
		Args: nArgs(0, "healthcheck takes no arguments"),
	}
	cmd.Flags().StringVar(&rawURL, "url", "", "http(s) URL to GET (default: /readyz at the configured http.listen)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if !cmd.Flags().Changed("url") {
			rawURL = defaultHealthURL
			if u, ok := configHealthURL(); ok {
				rawURL = u
			}
		}
		u, err := url.Parse(rawURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError{msg: fmt.Sprintf("healthcheck --url must be an http or https URL, got %q", rawURL)}
		}
		if timeout <= 0 {
			return usageError{msg: "healthcheck --timeout must be positive"}
		}
		if err := checkHealth(cmd.Context(), u.String(), timeout); err != nil {
			return err
		}
		fmt.Fprintln(std.stdout, "ok")
		return nil
	}
	return cmd
}

// errNotHealthy is a node that answered, but not 200.
var errNotHealthy = errors.New("not healthy")

// checkHealth GETs u once. A redirect is not followed: a health URL that
// redirects is a misconfiguration, not a healthy node.
func checkHealth(ctx context.Context, u string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", u, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck %s: %w: status %d", u, errNotHealthy, resp.StatusCode)
	}
	return nil
}
