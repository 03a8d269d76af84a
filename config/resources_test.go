package config

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// The commented-out example resource server in config.yaml loads and
// validates once uncommented.
func TestShippedConfigResourceExample(t *testing.T) {
	data := readShipped(t)
	lines := strings.Split(data, "\n")
	start := slices.Index(lines, "# resources:")
	if start < 0 {
		t.Fatal(`config.yaml has no commented-out example starting "# resources:"`)
	}
	var example []string
	for _, l := range lines[start:] {
		if !strings.HasPrefix(l, "#") {
			break
		}
		example = append(example, strings.TrimPrefix(strings.TrimPrefix(l, "#"), " "))
	}
	body := strings.Join(example, "\n") + "\n"
	full := strings.Replace(data, "\nresources: []\n", "\n"+body, 1)
	if full == data {
		t.Fatal("config.yaml has no `resources: []` line")
	}
	cfg, err := Load(writeConfig(t, full), nil)
	if err != nil {
		t.Fatalf("config.yaml with the example resource uncommented: %v", err)
	}
	if len(cfg.Resources) != 1 || cfg.Resources[0].Identifier != "https://api.example.com/" || len(cfg.Resources[0].Scopes) != 2 ||
		cfg.Resources[0].AccessTokenTTL.D().String() != "5m0s" {
		t.Fatalf("resources = %+v", cfg.Resources)
	}
	// AUTHRIM_RESOURCES cannot set the list.
	if _, err := Load(writeConfig(t, data), []string{"AUTHRIM_RESOURCES=x"}); err == nil {
		t.Error("AUTHRIM_RESOURCES accepted")
	}
}

func readShipped(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
