package i18n

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// translators are the functions whose argument at index arg is a message
// key, by package directory ("" for any package): i18n's own, and the
// auth pages' helpers that translate (tr, errorPage).
var translators = []struct {
	dir, fn string
	arg     int
}{
	{"", "i18n.T", 1},
	{"", "i18n.Text", 1},
	{"http/auth", "tr", 1},
	{"http/auth", "errorPage", 2},
	{"http/auth", "h.jsonError", 2},
	{"http/console", "c.tr", 1},
	{"http/console", "c.errorPage", 2},
}

// templateKey finds {{T "..."}}, {{TB "..."}} and {{TH "..."}} (also inside
// parentheses) in templates of any kind.
var templateKey = regexp.MustCompile(`[({]\s*T[BH]?\s+("(?:[^"\\]|\\.)*")`)

// keyUse is a key and where it was found.
type keyUse struct{ key, where string }

// moduleRoot is the directory of go.mod above this package.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

// usedKeys collects every literal message key of the module: in
// templates (*.html, *.txt, *.tmpl, *.gotmpl) and in Go code (calls of
// the translators).
func usedKeys(t *testing.T) []keyUse {
	root := moduleRoot(t)
	var uses []keyUse
	fset := token.NewFileSet()
	// Package-level string constants by package directory, so a key
	// passed as a constant (tr(c, msgBadCode)) is checked too.
	consts := map[string]map[string]string{}
	var goFiles []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch filepath.Ext(name) {
		case ".html", ".txt", ".tmpl", ".gotmpl":
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range templateKey.FindAllSubmatchIndex(b, -1) {
				key, err := strconv.Unquote(string(b[m[2]:m[3]]))
				if err != nil {
					t.Errorf("%s: unreadable key %s", rel, b[m[2]:m[3]])
					continue
				}
				line := 1 + strings.Count(string(b[:m[0]]), "\n")
				uses = append(uses, keyUse{key, rel + ":" + strconv.Itoa(line)})
			}
		case ".go":
			if strings.HasSuffix(name, "_test.go") {
				return nil
			}
			goFiles = append(goFiles, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	parsed := map[string]*ast.File{}
	for _, p := range goFiles {
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		parsed[p] = f
		dir := filepath.Dir(p)
		if consts[dir] == nil {
			consts[dir] = map[string]string{}
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if s, ok := stringValue(vs.Values[i], nil); ok {
							consts[dir][n.Name] = s
						}
					}
				}
			}
		}
	}
	for _, p := range goFiles {
		f := parsed[p]
		dir := filepath.Dir(p)
		rel, _ := filepath.Rel(root, dir)
		rel = filepath.ToSlash(rel)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			var fn string
			switch e := call.Fun.(type) {
			case *ast.Ident:
				fn = e.Name
			case *ast.SelectorExpr:
				if x, ok := e.X.(*ast.Ident); ok {
					fn = x.Name + "." + e.Sel.Name
				}
			}
			for _, tr := range translators {
				if tr.fn != fn || (tr.dir != "" && tr.dir != rel) || len(call.Args) <= tr.arg {
					continue
				}
				if rel == "internal/i18n" {
					continue // the package's own plumbing
				}
				if key, ok := stringValue(call.Args[tr.arg], consts[dir]); ok && key != "" {
					uses = append(uses, keyUse{key, fset.Position(call.Pos()).String()})
				}
			}
			return true
		})
	}
	return uses
}

// stringValue is the value of a string literal, a known constant or a
// concatenation of those.
func stringValue(e ast.Expr, consts map[string]string) (string, bool) {
	switch v := e.(type) {
	case *ast.BasicLit:
		if v.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(v.Value)
		return s, err == nil
	case *ast.Ident:
		s, ok := consts[v.Name]
		return s, ok
	case *ast.BinaryExpr:
		if v.Op != token.ADD {
			return "", false
		}
		a, ok1 := stringValue(v.X, consts)
		b, ok2 := stringValue(v.Y, consts)
		return a + b, ok1 && ok2
	case *ast.ParenExpr:
		return stringValue(v.X, consts)
	}
	return "", false
}

// TestCatalogsComplete fails for a message key used in a template or in
// Go code that a language has no translation of: a string added without
// translations shows in English on a Japanese page. Fix: add the key to
// ja.go, de.go and fr.go.
func TestCatalogsComplete(t *testing.T) {
	uses := usedKeys(t)
	if len(uses) < 100 {
		t.Fatalf("found only %d keys: is the scan broken?", len(uses))
	}
	used := map[string]bool{}
	for _, u := range uses {
		used[u.key] = true
		for _, lang := range Supported() {
			if !Has(lang, u.key) {
				t.Errorf("%s: %q has no %s translation", u.where, u.key, lang)
			}
		}
	}
	for lang, cat := range catalogs {
		for key := range cat {
			if !used[key] {
				t.Logf("%s: %q is translated but not used (stale?)", lang, key)
			}
		}
	}
}

var verb = regexp.MustCompile(`%(?:\[(\d+)\])?[-+# 0]*\d*(?:\.\d+)?([a-zA-Z%])`)

// verbs lists a format's verbs by argument: the translation may reorder
// them (%[2]s) but must use each argument as the key does.
func verbs(s string) []string {
	var out []string
	next := 1
	for _, m := range verb.FindAllStringSubmatch(s, -1) {
		if m[2] == "%" {
			continue
		}
		n := next
		if m[1] != "" {
			n, _ = strconv.Atoi(m[1])
		}
		next = n + 1
		out = append(out, strconv.Itoa(n)+m[2])
	}
	slices.Sort(out)
	return out
}

// TestCatalogFormats: every translation takes the arguments its English
// key takes, with the same verbs; none is empty.
func TestCatalogFormats(t *testing.T) {
	for lang, cat := range catalogs {
		for key, text := range cat {
			if strings.TrimSpace(text) == "" {
				t.Errorf("%s: %q: empty translation", lang, key)
			}
			if a, b := verbs(key), verbs(text); !slices.Equal(a, b) {
				t.Errorf("%s: %q: verbs %v, translation %q has %v", lang, key, a, text, b)
			}
		}
	}
}
