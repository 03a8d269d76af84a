package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"authrim/audit"
	"authrim/http/management"
)

// auditCmd reads the audit log of a running node (GET /admin/audit).
func auditCmd(std *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List or follow the audit log (security events of every member)",
		Long: `The audit log of a running node (admin API, /admin/audit): sign-ins and
their failures, second factors, passkeys, sessions ended, grants revoked,
user, client and key changes, refused admin tokens... Every member of a
cluster writes to the same log, in one order. Events are kept for
audit.retention (30 days by default).

An event's type is its log message as a slug (second_factor_failed);
--type takes a type or a prefix ending in * (second_factor_*).`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	client := adminFlags(cmd)
	cmd.AddCommand(auditList(std, client), auditTail(std, client))
	return cmd
}

// auditFilter holds the flags both subcommands take.
type auditFilter struct {
	since, until      string
	before            string
	typ, user, client string
	limit             int
	asJSON            bool
}

func (f *auditFilter) flags(cmd *cobra.Command, withRange bool) {
	fs := cmd.Flags()
	if withRange {
		fs.StringVar(&f.since, "since", "", "events from this time on: RFC 3339, or a duration back from now (1h, 30m)")
		fs.StringVar(&f.until, "until", "", "events before this time: RFC 3339, or a duration back from now")
		fs.IntVar(&f.limit, "limit", audit.DefaultLimit, fmt.Sprintf("at most this many events (1..%d)", audit.MaxLimit))
		fs.StringVar(&f.before, "before", "", "the latest events before this one (an event's id, from --json: pages back)")
	}
	fs.StringVar(&f.typ, "type", "", "only events of this type (a trailing * matches a prefix)")
	fs.StringVar(&f.user, "user", "", "only events about this user (subject)")
	fs.StringVar(&f.client, "client", "", "only events about this client_id")
	fs.BoolVar(&f.asJSON, "json", false, "print events as JSON, one per line")
}

// parseWhen reads an RFC 3339 time or a duration back from now.
func parseWhen(flag, v string, now time.Time) (string, error) {
	if v == "" {
		return "", nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d).UTC().Format(time.RFC3339Nano), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	return "", usageError{msg: fmt.Sprintf("--%s %q: want an RFC 3339 time or a duration such as 1h", flag, v)}
}

func (f *auditFilter) query(after string, now time.Time) (url.Values, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	since, err := parseWhen("since", f.since, now)
	if err != nil {
		return nil, err
	}
	until, err := parseWhen("until", f.until, now)
	if err != nil {
		return nil, err
	}
	set("since", since)
	set("until", until)
	set("after", after)
	set("before", f.before)
	set("type", f.typ)
	set("sub", f.user)
	set("client_id", f.client)
	if f.limit != 0 {
		if f.limit < 1 || f.limit > audit.MaxLimit {
			return nil, usageError{msg: fmt.Sprintf("--limit must be 1..%d", audit.MaxLimit)}
		}
		q.Set("limit", strconv.Itoa(f.limit))
	}
	return q, nil
}

func auditList(std *cli, client *adminClient) *cobra.Command {
	var f auditFilter
	cmd := &cobra.Command{
		Use:   "list [--since 1h] [--type T] [--user SUB] [--client ID] [--limit N] [--json]",
		Short: "List audit events (the latest, or those of a time range)",
		Example: `  authrim audit list
  authrim audit list --since 24h --type 'second_factor_*'
  authrim audit list --user hbOqguGoAJhhYASupNpcdw --json`,
		Args: nArgs(0, "audit list takes no arguments"),
	}
	f.flags(cmd, true)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if f.limit < 1 {
			return usageError{msg: fmt.Sprintf("--limit must be 1..%d", audit.MaxLimit)}
		}
		q, err := f.query("", time.Now())
		if err != nil {
			return err
		}
		var page management.AuditPage
		if err := client.do(cmd.Context(), http.MethodGet, management.AuditPath+"?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		return printEvents(std.stdout, page.Events, f.asJSON, true)
	}
	return cmd
}

func auditTail(std *cli, client *adminClient) *cobra.Command {
	var (
		f     auditFilter
		every time.Duration
		count int
	)
	cmd := &cobra.Command{
		Use:   "tail [--since 10m] [--type T] [--user SUB] [--client ID] [--json]",
		Short: "Print audit events as they happen, until interrupted",
		Example: `  authrim audit tail
  authrim audit tail --since 10m --type 'sign_in_*' --json`,
		Args: nArgs(0, "audit tail takes no arguments"),
	}
	f.flags(cmd, false)
	cmd.Flags().StringVar(&f.since, "since", "", "start with the events from this time (RFC 3339, or a duration back from now); default: from now")
	cmd.Flags().DurationVar(&every, "interval", 2*time.Second, "how often to ask the node for new events")
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many events (0: run until interrupted)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if every < 100*time.Millisecond {
			return usageError{msg: "--interval must be at least 100ms"}
		}
		ctx := cmd.Context()
		since, err := parseWhen("since", f.since, time.Now())
		if err != nil {
			return err
		}
		f.since = "" // from here on, the cursor says where to go on
		var cursor string
		if since != "" {
			t, _ := time.Parse(time.RFC3339Nano, since)
			cursor = audit.CursorAt(t)
		} else {
			// From now: the latest event's id is the cursor.
			var page management.AuditPage
			if err := client.do(ctx, http.MethodGet, management.AuditPath+"?limit=1", nil, &page); err != nil {
				return err
			}
			cursor = cmp.Or(page.Next, audit.CursorAt(time.Now()))
		}
		printed := 0
		for {
			q, err := f.query(cursor, time.Now())
			if err != nil {
				return err
			}
			q.Set("limit", strconv.Itoa(audit.MaxLimit))
			var page management.AuditPage
			if err := client.do(ctx, http.MethodGet, management.AuditPath+"?"+q.Encode(), nil, &page); err != nil {
				return err
			}
			if count > 0 && printed+len(page.Events) > count {
				page.Events = page.Events[:count-printed]
			}
			if err := printEvents(std.stdout, page.Events, f.asJSON, false); err != nil {
				return err
			}
			printed += len(page.Events)
			if count > 0 && printed >= count {
				return nil
			}
			cursor = page.Next
			if len(page.Events) == audit.MaxLimit {
				continue // more are waiting
			}
			if err := sleepCtx(ctx, every); err != nil {
				return nil // interrupted: a normal end
			}
		}
	}
	return cmd
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// printEvents prints events as a table (or JSON lines).
func printEvents(w io.Writer, events []audit.Event, asJSON, header bool) error {
	if asJSON {
		for _, e := range events {
			if err := printJSONLine(w, e); err != nil {
				return err
			}
		}
		return nil
	}
	if header && len(events) == 0 {
		fmt.Fprintln(w, "no events")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if header {
		fmt.Fprintln(tw, "TIME\tMEMBER\tTYPE\tUSER\tCLIENT\tADDRESS\tDETAILS")
	}
	for _, e := range events {
		keys := make([]string, 0, len(e.Attrs))
		for k := range e.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		details := make([]string, len(keys))
		for i, k := range keys {
			details[i] = k + "=" + e.Attrs[k]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), dash(e.Member), e.Type,
			dash(e.Subject), dash(e.ClientID), dash(e.ClientIP), strings.Join(details, " "))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printJSONLine prints v as one line of JSON.
func printJSONLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
