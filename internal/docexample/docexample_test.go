package docexample

import (
	"errors"
	"strings"
	"testing"
)

func TestBlock(t *testing.T) {
	text := "intro\n<!-- example: a -->\nSome words.\n\n```sh\necho one\necho two\n```\n\n<!-- example: b -->\n```go\nx\n```\n"
	for _, tc := range []struct {
		name, example, want string
		err                 error
	}{
		{"found", "a", "echo one\necho two\n", nil},
		{"missing", "c", "", ErrNotFound},
		{"no sh block", "b", "", ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Block(text, tc.example)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("Block = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir() + "/doc.md"
	if err := writeFile(dir, "<!-- example: hi -->\n```sh\necho \"$GREETING\" | tr a-z A-Z\n```\n"); err != nil {
		t.Fatal(err)
	}
	if got := Run(t, dir, "hi", "GREETING=hello"); strings.TrimSpace(got) != "HELLO" {
		t.Fatalf("Run = %q", got)
	}
}
