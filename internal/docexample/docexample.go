// Package docexample finds the shell examples the README and docs promise
// work, so a test can run them against a real node instead of trusting
// that they were copied right.
//
// An example is the first ```sh block after a line `<!-- example: NAME -->`.
// It must not be used outside tests: it runs what a file says.
package docexample

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ErrNotFound: the file has no example of that name.
var ErrNotFound = errors.New("docexample: not found")

// Block returns the body of the example called name in text.
func Block(text, name string) (string, error) {
	marker := "<!-- example: " + name + " -->"
	i := strings.Index(text, marker)
	if i < 0 {
		return "", fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	rest := text[i+len(marker):]
	start := strings.Index(rest, "```sh\n")
	if start < 0 {
		return "", fmt.Errorf("%w: %s has no sh block", ErrNotFound, name)
	}
	rest = rest[start+len("```sh\n"):]
	end := strings.Index(rest, "\n```")
	if end < 0 {
		return "", fmt.Errorf("%w: %s: unterminated block", ErrNotFound, name)
	}
	return rest[:end+1], nil
}

// Run runs the example called name from file (relative to the test's
// package) with bash -euo pipefail, the given environment added to the
// test process's, and returns its standard output. It fails the test
// when the example is missing or exits non-zero, and stops it after a
// minute.
func Run(t testing.TB, file, name string, env ...string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	script, err := Block(string(data), name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("example %s from %s: %v\nscript:\n%s\nstdout:\n%s\nstderr:\n%s", name, file, err, script, stdout.String(), stderr.String())
	}
	return stdout.String()
}
