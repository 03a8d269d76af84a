package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// defaultHealthURL is the readiness endpoint of a node on the default
// http.listen port, as seen from inside its own container.
const defaultHealthURL = "http://127.0.0.1:8080/readyz"

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
		Long: `Exit 0 if the node answers 200 at --url (default ` + defaultHealthURL + `),
1 otherwise (no answer, an error status, a redirect, the timeout). For
HEALTHCHECK in images without a shell: use /readyz for "can take traffic",
/healthz for "the process lives".`,
		Example: `  authrim healthcheck
  authrim healthcheck --url http://127.0.0.1:8080/healthz --timeout 2s`,
		Args: nArgs(0, "healthcheck takes no arguments"),
	}
	cmd.Flags().StringVar(&rawURL, "url", defaultHealthURL, "http(s) URL to GET")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
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
