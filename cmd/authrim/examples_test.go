package main

import (
	"path/filepath"
	"testing"

	"authrim/config"
	"authrim/node"
)

// The example cluster's node configs load and validate, so `make
// cluster` cannot rot silently.
func TestExampleClusterConfigsLoad(t *testing.T) {
	files, err := filepath.Glob("../../examples/cluster/node*.yaml")
	if err != nil || len(files) != 3 {
		t.Fatalf("example configs: %v %v", files, err)
	}
	names := map[string]bool{}
	for _, f := range files {
		cfg, err := config.Load(f, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if cfg.Storage.Backend != node.BackendEtcd || len(cfg.Cluster.Peers) != 2 || !cfg.Cluster.TLS.Enabled() {
			t.Fatalf("%s: not a TLS etcd cluster member: %+v", f, cfg.Cluster)
		}
		names[cfg.Cluster.NodeName] = true
	}
	if len(names) != 3 {
		t.Fatalf("node names not distinct: %v", names)
	}
}
