package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersionCommand: authrim version names the version and commit the
// build stamped, else what the toolchain recorded, and the Go version.
func TestVersionCommand(t *testing.T) {
	for _, tc := range []struct {
		name            string
		version, commit string
		want            []string
	}{
		{"stamped", "v1.4.2", "0123456789abcdef0123456789abcdef01234567",
			[]string{"authrim v1.4.2\n", "commit:   0123456789abcdef0123456789abcdef01234567\n"}},
		// go test records no VCS data: the fallbacks show.
		{"unstamped", "", "", []string{"authrim devel\n", "commit:   unknown\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(v, c string) { version, commit = v, c }(version, commit)
			version, commit = tc.version, tc.commit
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), []string{"version"}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			out := stdout.String()
			for _, w := range append(tc.want, "go:       "+runtime.Version()+"\n", "platform: "+runtime.GOOS+"/"+runtime.GOARCH+"\n") {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"version", "extra"}, &stdout, &stderr); code != 2 {
		t.Fatalf("version with an argument: exit %d, want 2", code)
	}
}

// TestMakeDist runs `make dist` for amd64 (arm64 is the same command with
// another GOARCH; building it too would double the test's time) and
// checks what a release needs: the binary is static (no program
// interpreter, no shared library), stripped, free of build paths, stamped
// with the version and commit, and listed in SHA256SUMS with its hash.
func TestMakeDist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a release binary")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dist := t.TempDir()
	const v = "v0.0.0-disttest"
	cmd := exec.Command("make", "-C", root, "dist", "DIST="+dist, "ARCHES=amd64", "VERSION="+v)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make dist: %v\n%s", err, out)
	}
	bin := filepath.Join(dist, "authrim-"+v+"-linux-amd64")

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("machine %v", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("not static: has a %v program header", p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("needs shared libraries %v (%v)", libs, err)
	}
	if f.Section(".symtab") != nil {
		t.Error("not stripped: has a symbol table")
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(root)) {
		t.Errorf("the binary holds the build path %s (no -trimpath?)", root)
	}

	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := hex.EncodeToString(sum[:]) + "  " + filepath.Base(bin) + "\n"; string(sums) != want {
		t.Errorf("SHA256SUMS = %q, want %q", sums, want)
	}

	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return // cannot run it here
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "authrim "+v+"\n") || !strings.Contains(string(out), "go:       "+runtime.Version()) {
		t.Errorf("version output:\n%s", out)
	}
	if head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output(); err == nil {
		if want := "commit:   " + strings.TrimSpace(string(head)) + "\n"; !strings.Contains(string(out), want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}
