package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"authrim/cluster/pki"
	"authrim/http/management"
	"authrim/node"
)

// clusterCmd: cluster operations (certs, status).
func clusterCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{msg: "cluster needs a subcommand: certs, status, etcd-add or etcd-remove"}
	}
	switch args[0] {
	case "certs":
		return clusterCerts(args[1:], stdout)
	case "status":
		return clusterStatus(ctx, args[1:], stdout)
	case "etcd-add":
		return etcdAdd(ctx, args[1:], stdout)
	case "etcd-remove":
		return etcdRemove(ctx, args[1:], stdout)
	default:
		return usageError{msg: fmt.Sprintf("unknown cluster subcommand %q", args[0])}
	}
}

func clusterStatus(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cluster status", flag.ContinueOnError)
	client := adminFlags(fs)
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if _, err := positionals(fs, args, 0, "cluster status takes no arguments"); err != nil {
		return err
	}
	var st node.ClusterStatus
	if err := client.do(ctx, http.MethodGet, "/admin/cluster", nil, &st); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Fprintf(stdout, "asked node:  %s (storage %s)\nmembers:     %s\nkey manager: %s\n",
		st.Node, st.Storage, strings.Join(st.Members, ", "), st.KeyManagerNode)
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
func etcdAdd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cluster etcd-add", flag.ContinueOnError)
	client := adminFlags(fs)
	name := fs.String("name", "", "the new member's storage.etcd.name (default: its cluster.node_name)")
	peerURL := fs.String("peer-url", "", "the new member's peer URL, e.g. https://10.0.0.4:2380")
	if _, err := positionals(fs, args, 0, "cluster etcd-add takes --name and --peer-url"); err != nil {
		return err
	}
	if *name == "" || *peerURL == "" {
		return usageError{msg: "cluster etcd-add needs --name and --peer-url"}
	}
	var out management.EtcdMemberAdded
	if err := client.do(ctx, http.MethodPost, management.ClusterPath+"/etcd-members", management.EtcdMemberRequest{Name: *name, PeerURL: *peerURL}, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "etcd member %s added. Start it with:\n  storage.etcd.state: existing\n  storage.etcd.initial_cluster: %s\n", *name, out.InitialCluster)
	return nil
}

// etcdRemove removes an etcd member (a node leaving for good, or the
// first step of replacing one that lost its disk).
func etcdRemove(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cluster etcd-remove", flag.ContinueOnError)
	client := adminFlags(fs)
	pos, err := positionals(fs, args, 1, "cluster etcd-remove needs exactly one member NAME")
	if err != nil {
		return err
	}
	if err := client.do(ctx, http.MethodDelete, management.ClusterPath+"/etcd-members/"+url.PathEscape(pos[0]), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "etcd member %s removed\n", pos[0])
	return nil
}

// clusterCerts makes a cluster CA and one certificate per node for
// cluster.tls (see package pki).
func clusterCerts(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cluster certs", flag.ContinueOnError)
	nodes := fs.Int("nodes", 3, "how many node certificates (node1..nodeN)")
	out := fs.String("out", "", "directory for ca.pem, ca-key.pem, nodeN.pem, nodeN-key.pem")
	hosts := fs.String("hosts", "", "extra DNS names or IP addresses for every node certificate, comma-separated")
	if _, err := positionals(fs, args, 0, "cluster certs takes no arguments"); err != nil {
		return err
	}
	if *out == "" || *nodes < 1 || *nodes > 99 {
		return usageError{msg: "cluster certs needs --out DIR and --nodes between 1 and 99"}
	}
	var extra []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			extra = append(extra, h)
		}
	}
	if err := pki.WriteBundle(*out, *nodes, extra); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote a CA and %d node certificates to %s\nkeep ca-key.pem offline; each node needs ca.pem, its nodeN.pem and nodeN-key.pem\n", *nodes, *out)
	return nil
}
