package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"authrim/node"
)

// clusterCmd: cluster operations (certs, status).
func clusterCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{msg: "cluster needs a subcommand: certs or status"}
	}
	switch args[0] {
	case "certs":
		return clusterCerts(args[1:], stdout)
	case "status":
		return clusterStatus(ctx, args[1:], stdout)
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

// clusterCerts makes a cluster CA and one certificate per node for
// cluster.tls: ECDSA P-256, each valid as server and client, naming
// localhost, the loopback addresses, the node's name and --hosts.
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
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	caKey, caCert, caDER, err := makeCA()
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(*out, "ca.pem"), "CERTIFICATE", caDER, 0o644); err != nil {
		return err
	}
	if err := writeKey(filepath.Join(*out, "ca-key.pem"), caKey); err != nil {
		return err
	}
	var extra []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			extra = append(extra, h)
		}
	}
	for i := 1; i <= *nodes; i++ {
		name := fmt.Sprintf("node%d", i)
		key, der, err := makeNodeCert(name, append([]string{name, "localhost", "127.0.0.1", "::1"}, extra...), caKey, caCert)
		if err != nil {
			return err
		}
		if err := writePEM(filepath.Join(*out, name+".pem"), "CERTIFICATE", der, 0o644); err != nil {
			return err
		}
		if err := writeKey(filepath.Join(*out, name+"-key.pem"), key); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "wrote a CA and %d node certificates to %s\nkeep ca-key.pem offline; each node needs ca.pem, its nodeN.pem and nodeN-key.pem\n", *nodes, *out)
	return nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func makeCA() (*ecdsa.PrivateKey, *x509.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: "Authrim cluster CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, der, err
}

func makeNodeCert(name string, sans []string, caKey *ecdsa.PrivateKey, ca *x509.Certificate) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(2, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range sans {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	return key, der, err
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return errors.Join(errors.New("cluster certs: encode key"), err)
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}
