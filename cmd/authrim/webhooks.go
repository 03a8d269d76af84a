package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"authrim/http/management"
	"authrim/webhooks"
)

// webhooksCmd manages webhook subscriptions of a running node
// (/admin/webhooks).
func webhooksCmd(std *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Send audit events to your systems: create, list, update, delete webhook subscriptions",
		Long: `Webhook subscriptions of a running node (admin API, /admin/webhooks). A
subscription names an https URL and the audit event types it wants (a
type, a prefix ending in *, or * for every event; see authrim audit). Each
event is POSTed as JSON, signed per Standard Webhooks with the
subscription's secret (whsec_..., printed once by create and
rotate-secret), retried until delivered, at least once: deduplicate on
webhook-id.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	client := adminFlags(cmd)
	cmd.AddCommand(webhooksCreate(std, client), webhooksList(std, client), webhooksShow(std, client),
		webhooksUpdate(std, client), webhooksDelete(std, client), webhooksRotate(std, client), webhooksDeliveries(std, client))
	return cmd
}

func printWebhook(std *cli, v webhooks.View, asJSON bool) error {
	if asJSON {
		return printJSON(std.stdout, v)
	}
	state := "enabled"
	if !v.Enabled {
		state = "disabled: " + v.DisabledReason
	}
	fmt.Fprintf(std.stdout, "id:          %s\nurl:         %s\nevents:      %s\nstate:       %s\nfailures:    %d in a row\n",
		v.ID, v.URL, strings.Join(v.Events, ", "), state, v.Failures)
	if v.Description != "" {
		fmt.Fprintf(std.stdout, "description: %s\n", v.Description)
	}
	if v.Secret != "" {
		fmt.Fprintf(std.stdout, "secret:      %s\n(shown once: give it to the receiver now)\n", v.Secret)
	}
	return nil
}

func webhooksCreate(std *cli, client *adminClient) *cobra.Command {
	var events, description string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "create URL --events TYPES [--description TEXT]",
		Short:   "Subscribe a URL to events; prints the signing secret once",
		Example: `  authrim webhooks create https://hooks.example.com/authrim --events 'sign_in_*,admin_user_*'`,
		Args:    nArgs(1, "webhooks create needs exactly one URL"),
	}
	cmd.Flags().StringVar(&events, "events", "", "comma-separated event types, prefixes ending in *, or *")
	cmd.Flags().StringVar(&description, "description", "", "a note for operators")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		if strings.TrimSpace(events) == "" {
			return usageError{msg: "webhooks create needs --events (a type, a prefix ending in *, or *)"}
		}
		var v webhooks.View
		in := webhooks.New{URL: a[0], Events: splitList(events), Description: description}
		if err := client.do(cmd.Context(), http.MethodPost, management.WebhooksPath, in, &v); err != nil {
			return err
		}
		return printWebhook(std, v, asJSON)
	}
	return cmd
}

func webhooksList(std *cli, client *adminClient) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List webhook subscriptions",
		Args:  nArgs(0, "webhooks list takes no arguments"),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var out management.WebhooksView
		if err := client.do(cmd.Context(), http.MethodGet, management.WebhooksPath, nil, &out); err != nil {
			return err
		}
		if asJSON {
			return printJSON(std.stdout, out)
		}
		if len(out.Webhooks) == 0 {
			fmt.Fprintln(std.stdout, "no webhooks")
			return nil
		}
		tw := tabwriter.NewWriter(std.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tFAILURES\tEVENTS\tURL")
		for _, v := range out.Webhooks {
			state := "enabled"
			if !v.Enabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", v.ID, state, v.Failures, strings.Join(v.Events, ","), v.URL)
		}
		return tw.Flush()
	}
	return cmd
}

func webhooksShow(std *cli, client *adminClient) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show a webhook subscription",
		Args:  nArgs(1, "webhooks show needs exactly one ID"),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		var v webhooks.View
		if err := client.do(cmd.Context(), http.MethodGet, management.WebhooksPath+"/"+url.PathEscape(a[0]), nil, &v); err != nil {
			return err
		}
		return printWebhook(std, v, asJSON)
	}
	return cmd
}

func webhooksUpdate(std *cli, client *adminClient) *cobra.Command {
	var (
		u, events, description string
		enable, disable        bool
	)
	cmd := &cobra.Command{
		Use:   "update ID [--url URL] [--events TYPES] [--description TEXT] [--enable | --disable]",
		Short: "Change a webhook subscription; --enable resumes a disabled one",
		Example: `  authrim webhooks update wh_Xy --events '*'
  authrim webhooks update wh_Xy --enable`,
		Args: nArgs(1, "webhooks update needs exactly one ID"),
	}
	f := cmd.Flags()
	f.StringVar(&u, "url", "", "a new https URL")
	f.StringVar(&events, "events", "", "the new comma-separated event types")
	f.StringVar(&description, "description", "", "a new note")
	f.BoolVar(&enable, "enable", false, "enable it (and reset its failure count)")
	f.BoolVar(&disable, "disable", false, "disable it")
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		var p webhooks.Patch
		if f.Changed("url") {
			p.URL = &u
		}
		if f.Changed("events") {
			list := splitList(events)
			p.Events = &list
		}
		if f.Changed("description") {
			p.Description = &description
		}
		switch {
		case enable && disable:
			return usageError{msg: "webhooks update takes --enable or --disable, not both"}
		case enable || disable:
			on := enable
			p.Enabled = &on
		}
		if p.URL == nil && p.Events == nil && p.Description == nil && p.Enabled == nil {
			return usageError{msg: "webhooks update: nothing to change"}
		}
		var v webhooks.View
		if err := client.do(cmd.Context(), http.MethodPatch, management.WebhooksPath+"/"+url.PathEscape(a[0]), p, &v); err != nil {
			return err
		}
		return printWebhook(std, v, false)
	}
	return cmd
}

func webhooksDelete(std *cli, client *adminClient) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a webhook subscription (its waiting deliveries are dropped)",
		Args:  nArgs(1, "webhooks delete needs exactly one ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := client.do(cmd.Context(), http.MethodDelete, management.WebhooksPath+"/"+url.PathEscape(a[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(std.stdout, "deleted webhook %s\n", a[0])
			return nil
		},
	}
}

func webhooksRotate(std *cli, client *adminClient) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-secret ID",
		Short: "Replace a subscription's signing secret; prints the new one once",
		Args:  nArgs(1, "webhooks rotate-secret needs exactly one ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			var v webhooks.View
			if err := client.do(cmd.Context(), http.MethodPost, management.WebhooksPath+"/"+url.PathEscape(a[0])+"/rotate-secret", nil, &v); err != nil {
				return err
			}
			return printWebhook(std, v, false)
		},
	}
}

func webhooksDeliveries(std *cli, client *adminClient) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "deliveries ID [--json]",
		Short: "Show a subscription's recent delivery attempts (the last 50)",
		Args:  nArgs(1, "webhooks deliveries needs exactly one ID"),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		var out management.DeliveriesView
		if err := client.do(cmd.Context(), http.MethodGet, management.WebhooksPath+"/"+url.PathEscape(a[0])+"/deliveries", nil, &out); err != nil {
			return err
		}
		if asJSON {
			return printJSON(std.stdout, out)
		}
		if len(out.Deliveries) == 0 {
			fmt.Fprintln(std.stdout, "no deliveries yet")
			return nil
		}
		tw := tabwriter.NewWriter(std.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tRESULT\tATTEMPT\tEVENT\tMESSAGE")
		for _, d := range out.Deliveries {
			result := "ok"
			if !d.OK {
				result = d.Error
			} else if d.Status != 0 {
				result = "ok " + strconv.Itoa(d.Status)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", d.At.UTC().Format(time.RFC3339), result, d.Attempt, d.EventType, d.MessageID)
		}
		return tw.Flush()
	}
	return cmd
}
