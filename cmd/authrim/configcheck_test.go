package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheck: config check accepts what serve accepts and refuses,
// with every problem, what serve refuses, from the file or from AUTHRIM_*
// variables, without creating anything the configuration names.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "storage:\n  dir: "+data+"\nkeys:\n  kek_file: "+filepath.Join(data, "kek")+"\n")
	typo := write("typo.yaml", "storage:\n  dri: /data\nhttp:\n  listen: nowhere\n")

	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stdout string
		stderr []string
	}{
		{"defaults", nil, nil, 0, "configuration ok", nil},
		{"file", []string{"--config", good}, nil, 0, "configuration ok", nil},
		{"file from AUTHRIM_CONFIG", nil, map[string]string{"AUTHRIM_CONFIG": good}, 0, "configuration ok", nil},
		{"every file problem", []string{"--config", typo}, nil, 1, "", []string{"storage.dri: unknown key (did you mean dir?)", "http.listen"}},
		{"variable problem", []string{"--config", good}, map[string]string{"AUTHRIM_CLUSTER_NODE_NAME": ""}, 1, "", []string{"cluster.node_name: must not be empty"}},
		{"unknown variable", []string{"--config", good}, map[string]string{"AUTHRIM_STORAGE_DRI": "/x"}, 1, "", []string{"AUTHRIM_STORAGE_DRI: unknown environment variable"}},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.yaml")}, nil, 1, "", []string{"nope.yaml"}},
		{"argument", []string{"x"}, nil, 2, "", []string{"config check takes no arguments"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AUTHRIM_CONFIG", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := runIO(context.Background(), append([]string{"config", "check"}, tc.args...), strings.NewReader(""), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tc.stdout)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q: %s", w, stderr.String())
				}
			}
		})
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("config check created %s (err %v): it must not open the store", data, err)
	}
}
