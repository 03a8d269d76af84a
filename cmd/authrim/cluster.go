package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"authrim/cluster/pki"
	"authrim/http/management"
	"authrim/node"
)

// clusterCmd: cluster operations (certs, status, etcd membership).
func clusterCmd(std *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Cluster certificates, status and etcd membership",
		Long:  "Operate a cluster: certificates for cluster.tls, status, etcd members (docs/CLUSTER.md).",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRun,
	}
	cmd.AddCommand(clusterCerts(std), clusterStatus(std), etcdAdd(std), etcdRemove(std))
	return cmd
}

func clusterStatus(std *cli) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "Members, where the KeyManager lives, etcd leader and health",
		Args:  nArgs(0, "cluster status takes no arguments"),
	}
	client := adminFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return printClusterStatus(cmd.Context(), client, asJSON, std.stdout)
	}
	return cmd
}

func printClusterStatus(ctx context.Context, client *adminClient, asJSON bool, stdout io.Writer) error {
	var st node.ClusterStatus
	if err := client.do(ctx, http.MethodGet, "/admin/cluster", nil, &st); err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, st)
	}
	fmt.Fprintf(stdout, "asked node:  %s (storage %s)\nmembers:     %s\nkey manager: %s\noutbox:      %d waiting, delivered by %s\n",
		st.Node, st.Storage, strings.Join(st.Members, ", "), st.KeyManagerNode, st.OutboxPending, cmp.Or(st.DeliveryNode, "(not running)"))
	if len(st.Peers) > 0 {
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "\nPEER\tADDRESS\tALIVE\tLAST SEEN")
		for _, p := range st.Peers {
			fmt.Fprintf(w, "%s\t%s\t%v\t%dms ago\n", p.Node, p.Address, p.Alive, p.LastSeenMs)
		}
		w.Flush()
	}
	if len(st.Etcd) > 0 {
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "\nETCD MEMBER\tID\tHEALTHY\tLEADER\tCLIENT URLS")
		for _, m := range st.Etcd {
			health := fmt.Sprint(m.Healthy)
			if m.Error != "" {
				health = "false (" + m.Error + ")"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\n", m.Name, m.ID, health, m.Leader, strings.Join(m.ClientURLs, ","))
		}
		w.Flush()
	}
	return nil
}

// etcdAdd announces a new etcd member (a node joining, or one replaced
// after losing its disk) and prints the initial_cluster it must use.
func etcdAdd(std *cli) *cobra.Command {
	var name, peerURL string
	cmd := &cobra.Command{
		Use:   "etcd-add --name N --peer-url URL",
		Short: "Announce a new etcd member; prints the initial_cluster it starts with",
		Args:  nArgs(0, "cluster etcd-add takes --name and --peer-url"),
	}
	client := adminFlags(cmd)
	cmd.Flags().StringVar(&name, "name", "", "the new member's storage.etcd.name (default: its cluster.node_name)")
	cmd.Flags().StringVar(&peerURL, "peer-url", "", "the new member's peer URL, e.g. https://10.0.0.4:2380")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if name == "" || peerURL == "" {
			return usageError{msg: "cluster etcd-add needs --name and --peer-url"}
		}
		var out management.EtcdMemberAdded
		if err := client.do(cmd.Context(), http.MethodPost, management.ClusterPath+"/etcd-members", management.EtcdMemberRequest{Name: name, PeerURL: peerURL}, &out); err != nil {
			return err
		}
		fmt.Fprintf(std.stdout, "etcd member %s added. Start it with:\n  storage.etcd.state: existing\n  storage.etcd.initial_cluster: %s\n", name, out.InitialCluster)
		return nil
	}
	return cmd
}

// etcdRemove removes an etcd member (a node leaving for good, or the
// first step of replacing one that lost its disk).
func etcdRemove(std *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "etcd-remove NAME",
		Short: "Remove an etcd member (node gone for good, or about to be replaced)",
		Args:  nArgs(1, "cluster etcd-remove needs exactly one member NAME"),
	}
	client := adminFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		if err := client.do(cmd.Context(), http.MethodDelete, management.ClusterPath+"/etcd-members/"+url.PathEscape(a[0]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(std.stdout, "etcd member %s removed\n", a[0])
		return nil
	}
	return cmd
}

// clusterCerts makes a cluster CA and one certificate per node for
// cluster.tls (see package pki).
func clusterCerts(std *cli) *cobra.Command {
	var nodes int
	var out, hosts string
	cmd := &cobra.Command{
		Use:   "certs --nodes N --out DIR [--hosts H,...]",
		Short: "Make a cluster CA and N node certificates for cluster.tls",
		Args:  nArgs(0, "cluster certs takes no arguments"),
	}
	cmd.Flags().IntVar(&nodes, "nodes", 3, "how many node certificates (node1..nodeN)")
	cmd.Flags().StringVar(&out, "out", "", "directory for ca.pem, ca-key.pem, nodeN.pem, nodeN-key.pem")
	cmd.Flags().StringVar(&hosts, "hosts", "", "extra DNS names or IP addresses for every node certificate, comma-separated")
	cmd.RunE = func(*cobra.Command, []string) error {
		if out == "" || nodes < 1 || nodes > 99 {
			return usageError{msg: "cluster certs needs --out DIR and --nodes between 1 and 99"}
		}
		var extra []string
		for _, h := range strings.Split(hosts, ",") {
			if h = strings.TrimSpace(h); h != "" {
				extra = append(extra, h)
			}
		}
		if err := pki.WriteBundle(out, nodes, extra); err != nil {
			return err
		}
		fmt.Fprintf(std.stdout, "wrote a CA and %d node certificates to %s\nkeep ca-key.pem offline; each node needs ca.pem, its nodeN.pem and nodeN-key.pem\n", nodes, out)
		return nil
	}
	return cmd
}
