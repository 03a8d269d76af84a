package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cmdLine runs an authrim command line in process and turns its exit
// code back into an error: nil for 0, a usageError (its message, the
// first line of stderr) for 2, and an error holding stderr for 1.
func cmdLine(ctx context.Context, stdin io.Reader, stdout io.Writer, args ...string) error {
	var stderr bytes.Buffer
	switch code := runIO(ctx, args, stdin, stdout, &stderr); code {
	case 0:
		return nil
	case 2:
		first, _, _ := strings.Cut(stderr.String(), "\n")
		return usageError{msg: strings.TrimPrefix(first, "authrim: ")}
	default:
		return errors.New(strings.TrimSpace(strings.TrimPrefix(stderr.String(), "authrim: ")))
	}
}

func usersRun(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	return cmdLine(ctx, stdin, stdout, append([]string{"users"}, args...)...)
}

func clientsRun(ctx context.Context, args []string, stdout io.Writer) error {
	return cmdLine(ctx, strings.NewReader(""), stdout, append([]string{"clients"}, args...)...)
}

func keysRun(ctx context.Context, args []string, stdout io.Writer) error {
	return cmdLine(ctx, strings.NewReader(""), stdout, append([]string{"keys"}, args...)...)
}

func backupRun(ctx context.Context, args []string, stdout io.Writer) error {
	return cmdLine(ctx, strings.NewReader(""), stdout, append([]string{"backup"}, args...)...)
}

func restoreRun(args []string, stdout io.Writer) error {
	return cmdLine(context.Background(), strings.NewReader(""), stdout, append([]string{"restore"}, args...)...)
}

// Every command has help (exit 0, on stdout); a group lists its
// subcommands; completion scripts exist for the usual shells; a missing
// or unknown command or flag is a usage error (exit 2) with the
// command's usage on stderr.
func TestHelpCompletionAndExitCodes(t *testing.T) {
	t.Setenv("AUTHRIM_ADMIN_TOKEN", "secret-token-that-help-must-not-show")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"users --help", []string{"users", "--help"}, 0, []string{"add", "show", "update", "set-password", "disable", "enable", "passkeys", "--server", "--admin-token"}, nil},
		{"help users", []string{"help", "users"}, 0, []string{"set-password"}, nil},
		{"users -h", []string{"users", "-h"}, 0, []string{"set-password"}, nil},
		{"clients --help", []string{"clients", "--help"}, 0, []string{"show", "update", "rotate-secret"}, nil},
		{"keys --help", []string{"keys", "--help"}, 0, []string{"list", "rotate", "revoke", "show"}, nil},
		{"keys revoke -help", []string{"keys", "revoke", "-help"}, 0, []string{"--reason"}, nil},
		{"users set-password --help", []string{"users", "set-password", "--help"}, 0, []string{"--password-stdin", "process list"}, nil},
		{"serve --help", []string{"serve", "--help"}, 0, []string{"--config", "AUTHRIM_CONFIG"}, nil},
		{"bench -h", []string{"bench", "-h"}, 0, []string{"--topology", "--target", "token-code-es256"}, nil},
		{"root --help", []string{"--help"}, 0, []string{"serve", "users", "clients", "keys", "backup", "restore", "cluster", "bench", "completion"}, nil},
		{"completion bash", []string{"completion", "bash"}, 0, []string{"bash completion"}, nil},
		{"completion zsh", []string{"completion", "zsh"}, 0, []string{"#compdef authrim"}, nil},
		{"completion fish", []string{"completion", "fish"}, 0, []string{"complete -c authrim"}, nil},
		// What the scripts ask: subcommands, flags, and no file names
		// for a USER (directive 4: no file completion).
		{"complete a subcommand", []string{"__complete", "users", "s"}, 0, []string{"set-password\t", "show\t", ":4"}, nil},
		{"complete a flag", []string{"__complete", "users", "set-password", "alice", "--pass"}, 0, []string{"--password-stdin\t"}, nil},
		{"complete a USER", []string{"__complete", "users", "show", ""}, 0, []string{":4"}, nil},
		{"no command", nil, 2, nil, []string{"no command given", "Usage:"}},
		{"unknown command", []string{"userz"}, 2, nil, []string{`unknown command "userz" (did you mean users?)`}},
		{"users alone", []string{"users"}, 2, nil, []string{"users needs a subcommand"}},
		{"unknown subcommand", []string{"users", "rename"}, 2, nil, []string{`unknown users subcommand "rename"`, "Usage:", "authrim users [command]"}},
		{"unknown flag", []string{"users", "list", "--nope"}, 2, nil, []string{"unknown flag: --nope", "authrim users list"}},
		{"flag without value", []string{"keys", "revoke", "abc", "--reason"}, 2, nil, []string{"flag needs an argument"}},
		{"serve with an argument", []string{"serve", "x"}, 2, nil, []string{"serve takes no arguments"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runIO(context.Background(), tc.args, strings.NewReader(""), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if strings.Contains(stdout.String()+stderr.String(), "secret-token-that-help-must-not-show") {
				t.Fatal("the admin token from the environment is printed")
			}
		})
	}
}

// TestDocumentedCommandLinesParse: every authrim command line in the
// README and docs/ (in sh code blocks) names a command that exists and
// flags it takes, with the right number of arguments.
func TestDocumentedCommandLinesParse(t *testing.T) {
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md")
	seen := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range documentedCommands(string(data)) {
			seen++
			args := shellWords(line)
			root := newRoot(&cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
			args = normalizeArgs(root, args)
			cmd, rest, err := root.Find(args)
			if err != nil || cmd == root || cmd.HasAvailableSubCommands() {
				t.Errorf("%s: %q: no such command (%v)", f, line, err)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s: %q: %v", f, line, err)
				continue
			}
			if help, _ := cmd.Flags().GetBool("help"); help {
				continue
			}
			if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
				t.Errorf("%s: %q: %v", f, line, err)
			}
		}
	}
	if seen < 20 {
		t.Fatalf("found only %d documented command lines: is the extraction broken?", seen)
	}
}

// documentedCommands returns the authrim command lines of the sh code
// blocks of a Markdown document: continuation lines joined, comments and
// the optional brackets of a synopsis ([--force]) removed.
func documentedCommands(doc string) []string {
	var out []string
	inSh := false
	var pending string
	for _, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			inSh = trimmed == "```sh"
			continue
		}
		if !inSh {
			continue
		}
		if pending != "" {
			trimmed = pending + " " + trimmed
			pending = ""
		}
		if cut, ok := strings.CutSuffix(trimmed, `\`); ok {
			pending = strings.TrimSpace(cut)
			continue
		}
		if i := strings.Index(trimmed, " #"); i >= 0 {
			trimmed = strings.TrimSpace(trimmed[:i])
		}
		if i := strings.LastIndex(trimmed, "| "); i >= 0 {
			trimmed = strings.TrimSpace(trimmed[i+2:])
		}
		for _, prefix := range []string{"authrim ", "bin/authrim ", "./bin/authrim "} {
			if rest, ok := strings.CutPrefix(trimmed, prefix); ok {
				out = append(out, strings.NewReplacer("[", "", "]", "").Replace(rest))
			}
		}
	}
	return out
}

// shellWords splits a command line as sh would for these examples:
// quotes group, $(...) is one word.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				j = len(s) - i - 1
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '$' && i+1 < len(s) && s[i+1] == '(':
			depth := 0
			for ; i < len(s); i++ {
				if s[i] == '(' {
					depth++
				} else if s[i] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			cur.WriteString("X")
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
