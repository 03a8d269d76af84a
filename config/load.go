package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"authrim/node"
)

// envPrefix starts every environment variable that overrides a config key:
// keys.kek_file is AUTHRIM_KEYS_KEK_FILE.
const envPrefix = "AUTHRIM_"

// cliEnv are AUTHRIM_* variables the CLI reads for itself. They are not
// config keys, so Load neither applies them nor reports them as
// unknown. Keep config.yaml's header in sync.
var cliEnv = []string{
	"AUTHRIM_CONFIG", // path of the config file
	"AUTHRIM_SERVER", // node the CLI's client subcommands talk to
}

// Load builds the node configuration: node.Default(), then the YAML
// file at path (skipped when path is ""), then AUTHRIM_* variables from
// environ ("KEY=value" entries, as os.Environ returns), then
// Config.Validate.
//
// A list of mappings (clients) can only be set in the file: its elements
// start from the zero value, and no AUTHRIM_* variable reaches it.
//
// Unknown keys, ill-typed values, unknown AUTHRIM_* variables and
// validation failures are all collected and returned together as one
// *ConfigError, one problem per line. A file that cannot be read or is not
// YAML is returned at once (not a *ConfigError), naming the path.
func Load(path string, environ []string) (node.Config, error) {
	cfg := node.Default()
	var problems []string
	var broken []string // list elements with file problems

	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return node.Config{}, fmt.Errorf("config file: %w", err)
		}
		doc, err := parseYAML(data)
		if err != nil {
			return node.Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		d := fileDecoder{file: path}
		d.document(doc, reflect.ValueOf(&cfg).Elem())
		problems = append(problems, d.problems...)
		broken = d.broken
	}

	envProblems, err := applyEnv(reflect.ValueOf(&cfg).Elem(), environ)
	if err != nil {
		return node.Config{}, err
	}
	problems = append(problems, envProblems...)

	if err := cfg.Validate(); err != nil {
		for _, p := range splitProblems(err) {
			if !aboutBroken(p, broken) {
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		return node.Config{}, &ConfigError{Problems: problems}
	}
	return cfg, nil
}

// parseYAML reads one YAML document. Empty input gives an empty node; a
// second document is an error rather than silently ignored.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &yaml.Node{}, nil
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, errors.New("holds more than one YAML document (remove the extra ---)")
	}
	return &doc, nil
}

// aboutBroken reports whether the Validate problem p ("clients[1]: ...")
// is about a list element that already has file problems. Such an element
// was decoded only in part (a misspelt key leaves its field empty), so
// Validate's view of it mostly echoes the file problems; they are dropped.
// Other elements are still validated.
func aboutBroken(p string, broken []string) bool {
	for _, b := range broken {
		if rest, ok := strings.CutPrefix(p, b); ok && (strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "[")) {
			return true
		}
	}
	return false
}

// ConfigError is Load's error for a configuration it read but refuses:
// every problem found, each one line naming its key (and, for the file,
// its line), so an operator fixes them all in one go.
type ConfigError struct {
	Problems []string
}

// Error prints a header and the problems, one per line.
func (e *ConfigError) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

// validateHeader is how node.Config.Validate starts its error message.
const validateHeader = "invalid configuration:"

// splitProblems turns Validate's "invalid configuration:\n  a\n  b" into
// ["a", "b"], so its problems join the loader's list under a single header.
// An error in any other shape is kept whole as one problem.
func splitProblems(err error) []string {
	msg := err.Error()
	rest, ok := strings.CutPrefix(msg, validateHeader)
	if !ok {
		return []string{msg}
	}
	var out []string
	for line := range strings.SplitSeq(rest, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		return []string{msg}
	}
	return out
}

// ---------------------------------------------------------------------------
// Struct shape, by reflection over yaml tags.

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[time.Duration]()
)

// structField is one config key of a struct type.
type structField struct {
	key   string
	index []int // for reflect.Value.FieldByIndex
}

// keysOf lists the config keys of struct type t in declaration order,
// following yaml.v3's rules: the tag name, or the lower-cased field name
// when the tag has none; "-" and unexported fields are skipped; ",inline"
// struct fields contribute their own keys.
func keysOf(t reflect.Type) []structField {
	var out []structField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(opts, ","), "inline") && f.Type.Kind() == reflect.Struct {
			for _, sub := range keysOf(f.Type) {
				sub.index = append([]int{i}, sub.index...)
				out = append(out, sub)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, structField{key: name, index: []int{i}})
	}
	return out
}

// isScalar reports whether values of t are written as one YAML scalar.
func isScalar(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Pointer:
		// An optional value (*bool): nil when the key is left out.
		return isScalar(t.Elem())
	}
	return false
}

// isSection reports whether t is a nested group of keys.
func isSection(t reflect.Type) bool { return t.Kind() == reflect.Struct && !isScalar(t) }

// isList reports whether t is a list of scalars.
func isList(t reflect.Type) bool { return t.Kind() == reflect.Slice && isScalar(t.Elem()) }

// isStructList reports whether t is a list of sections (e.g. the static
// clients): a YAML sequence of mappings, each element walked like a
// section. It can only be set in the file; no variable can express it.
func isStructList(t reflect.Type) bool { return t.Kind() == reflect.Slice && isSection(t.Elem()) }

// leaf is a settable config key: a scalar, a list of scalars, or a list of
// sections (fileOnly).
type leaf struct {
	path  string // dotted config path, e.g. keys.kek_file
	index []int  // from the root struct
	typ   reflect.Type
	// fileOnly marks a list of sections: it has no AUTHRIM_* override,
	// and the keys of its elements are not leaves of their own.
	fileOnly bool
}

// leavesOf lists every leaf of struct type t with its dotted path. It
// returns an error for a field type the loader cannot fill, including
// inside the elements of a list of sections (reported as path[].key); a
// test runs it over node.Config so such a field cannot ship.
func leavesOf(t reflect.Type) ([]leaf, error) {
	var out []leaf
	var errs []error
	// walk visits the keys of t; with collect false (inside a list
	// element) it only checks that every field type is supported.
	var walk func(t reflect.Type, prefix string, index []int, collect bool)
	walk = func(t reflect.Type, prefix string, index []int, collect bool) {
		for _, f := range keysOf(t) {
			path := joinPath(prefix, f.key)
			idx := append(slices.Clone(index), f.index...)
			ft := t.FieldByIndex(f.index).Type
			switch {
			case isScalar(ft), isList(ft):
				if collect {
					out = append(out, leaf{path: path, index: idx, typ: ft})
				}
			case isSection(ft):
				walk(ft, path, idx, collect)
			case isStructList(ft):
				if collect {
					out = append(out, leaf{path: path, index: idx, typ: ft, fileOnly: true})
				}
				walk(ft.Elem(), path+"[]", nil, false)
			default:
				errs = append(errs, fmt.Errorf("config key %s: unsupported field type %s", path, ft))
			}
		}
	}
	walk(t, "", nil, true)
	return out, errors.Join(errs...)
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// ---------------------------------------------------------------------------
// The YAML file.

// fileDecoder walks a yaml.Node against a struct and collects every
// problem instead of stopping at the first.
type fileDecoder struct {
	file     string
	problems []string
	// broken lists the paths of list-of-mappings elements (clients[1])
	// that have problems of their own.
	broken []string
}

func (d *fileDecoder) addf(n *yaml.Node, path, format string, args ...any) {
	if path == "" {
		path = "(top level)"
	}
	msg := path + ": " + fmt.Sprintf(format, args...)
	if n != nil && n.Line > 0 {
		msg += fmt.Sprintf(" (%s line %d)", d.file, n.Line)
	}
	d.problems = append(d.problems, msg)
}

// document decodes a whole file into the root struct. An empty file, or
// one holding only comments, changes nothing.
func (d *fileDecoder) document(doc *yaml.Node, root reflect.Value) {
	if doc.Kind == 0 {
		return
	}
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	d.section(n, root, "")
}

// resolve follows aliases (*anchor) to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// section decodes a mapping into struct v. A null section ("keys:" with
// every child commented out) keeps its defaults.
func (d *fileDecoder) section(n *yaml.Node, v reflect.Value, path string) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.addf(n, path, "must be a mapping of keys, got %s", describe(n))
		return
	}
	fields := keysOf(v.Type())
	byKey := make(map[string]structField, len(fields))
	for _, f := range fields {
		byKey[f.key] = f
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.addf(k, path, "keys must be plain names, got %s", describe(k))
			continue
		}
		p := joinPath(path, k.Value)
		if k.Value == "<<" {
			d.addf(k, p, "YAML merge keys are not supported")
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.addf(k, p, "duplicate key (first set on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		f, ok := byKey[k.Value]
		if !ok {
			if to, renamed := renamedKey(v, k.Value); renamed {
				d.addf(k, p, "unknown key (renamed to %s)", to)
				continue
			}
			d.addf(k, p, "unknown key%s", suggestKey(k.Value, fields))
			continue
		}
		d.value(val, v.FieldByIndex(f.index), p)
	}
}

// value decodes n into the field v, whatever its shape.
func (d *fileDecoder) value(n *yaml.Node, v reflect.Value, path string) {
	n = resolve(n)
	t := v.Type()
	switch {
	case isScalar(t):
		d.scalar(n, v, path)
	case isSection(t):
		d.section(n, v, path)
	case isList(t):
		d.list(n, v, path)
	case isStructList(t):
		d.structList(n, v, path)
	default:
		// leavesOf reports these; the test over node.Config keeps them out.
		d.addf(n, path, "field type %s is not supported by the config loader", t)
	}
}

// list replaces the list v with the sequence n. A null value or an empty
// sequence gives an empty (non-nil) list. If any element is ill-typed, v
// is left unchanged.
func (d *fileDecoder) list(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.addf(n, path, "must be a list, got %s", describe(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	ok := true
	for i, el := range n.Content {
		if !d.scalar(resolve(el), out.Index(i), fmt.Sprintf("%s[%d]", path, i)) {
			ok = false
		}
	}
	if ok {
		v.Set(out)
	}
}

// structList replaces the list of sections v with the sequence n, each
// element a mapping decoded like a section into the element type's zero
// value (elements get no defaults). Problems inside element i are reported
// under path[i].key. A null value or an empty sequence gives an empty
// (non-nil) list. The list is set even when an element has problems, so
// Validate still checks the other elements; such elements are recorded in
// d.broken and Load drops Validate's problems about them.
func (d *fileDecoder) structList(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.addf(n, path, "must be a list of mappings, got %s", describe(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, el := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		before := len(d.problems)
		if el = resolve(el); isNull(el) {
			// A bare "-": section would keep the zero value silently.
			d.addf(el, p, "must be a mapping of keys, got an empty entry")
		} else {
			d.section(el, out.Index(i), p)
		}
		if len(d.problems) > before {
			d.broken = append(d.broken, p)
		}
	}
	v.Set(out)
}

// scalar decodes the scalar n into v; on failure v is left unchanged. A
// null value ("token:" with nothing after it) sets the zero value.
func (d *fileDecoder) scalar(n *yaml.Node, v reflect.Value, path string) bool {
	if n.Kind != yaml.ScalarNode {
		d.addf(n, path, "must be %s, got %s", expect(v.Type()), describe(n))
		return false
	}
	if isNull(n) {
		v.SetZero()
		return true
	}
	if v.Kind() == reflect.Pointer && !reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
		p := reflect.New(v.Type().Elem())
		if !d.scalar(n, p.Elem(), path) {
			return false
		}
		v.Set(p)
		return true
	}
	tmp := reflect.New(v.Type())
	if u, ok := tmp.Interface().(encoding.TextUnmarshaler); ok {
		if err := u.UnmarshalText([]byte(n.Value)); err != nil {
			d.addf(n, path, "%v", err)
			return false
		}
	} else if err := n.Decode(tmp.Interface()); err != nil {
		d.addf(n, path, "must be %s, got %q", expect(v.Type()), n.Value)
		return false
	}
	v.Set(tmp.Elem())
	return true
}

// describe names the kind of YAML node for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unexpected YAML node"
}

// expect names what a value of type t is written as.
func expect(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[node.Duration]() || t == durationType:
		return "a duration (e.g. 90s, 24h)"
	case isList(t):
		return "a list of " + strings.TrimPrefix(expect(t.Elem()), "a ")
	case isStructList(t):
		return "a list of mappings"
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		return "a single value"
	case t.Kind() == reflect.Pointer:
		return expect(t.Elem())
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.String()
}

// ---------------------------------------------------------------------------
// AUTHRIM_* environment variables.

// envName is the variable that overrides the config key at path.
func envName(path string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// envLeaves maps every override variable to its leaf of struct type t.
// Names are built from the known paths, never split back, because keys
// themselves contain underscores.
//
// Lists of sections (fileOnly leaves) have no override and are not in the
// map; fileOnly lists their would-be names so applyEnv can say why such a
// variable is refused instead of calling it unknown.
func envLeaves(t reflect.Type) (leaves map[string]leaf, fileOnly map[string]leaf, err error) {
	all, err := leavesOf(t)
	if err != nil {
		return nil, nil, err
	}
	leaves = make(map[string]leaf, len(all))
	fileOnly = map[string]leaf{}
	var errs []error
	for _, l := range all {
		name := envName(l.path)
		if l.fileOnly {
			fileOnly[name] = l
			continue
		}
		if prev, dup := leaves[name]; dup {
			errs = append(errs, fmt.Errorf("config keys %s and %s both map to %s", prev.path, l.path, name))
		}
		if slices.Contains(cliEnv, name) {
			errs = append(errs, fmt.Errorf("config key %s maps to %s, which the CLI reserves", l.path, name))
		}
		leaves[name] = l
	}
	return leaves, fileOnly, errors.Join(errs...)
}

// fileOnlyFor returns the list of sections whose would-be variable is
// name, or a prefix of it followed by "_" (AUTHRIM_CLIENTS_0_ID).
func fileOnlyFor(name string, fileOnly map[string]leaf) (leaf, bool) {
	for prefix, l := range fileOnly {
		if name == prefix || strings.HasPrefix(name, prefix+"_") {
			return l, true
		}
	}
	return leaf{}, false
}

// applyEnv sets every leaf of root named by an AUTHRIM_* entry of environ
// and returns one problem per bad value or unknown variable, sorted by
// name. If a name occurs twice, the first entry wins, as with os.Getenv.
// The error is for a config struct the loader cannot handle.
func applyEnv(root reflect.Value, environ []string) ([]string, error) {
	leaves, fileOnly, err := envLeaves(root.Type())
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) || slices.Contains(cliEnv, name) {
			continue
		}
		if _, dup := vars[name]; !dup {
			vars[name] = val
		}
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range vars {
			if !yield(n) {
				return
			}
		}
	})
	var problems []string
	for _, name := range names {
		l, ok := leaves[name]
		if !ok {
			if fl, ok := fileOnlyFor(name, fileOnly); ok {
				problems = append(problems, fmt.Sprintf("%s: %s is a list of mappings and can only be set in the config file", name, fl.path))
				continue
			}
			problems = append(problems, name+": unknown environment variable (no such config key)"+suggestEnv(name, leaves))
			continue
		}
		if err := setFromString(root.FieldByIndex(l.index), vars[name]); err != nil {
			problems = append(problems, fmt.Sprintf("%s (from %s): %v", l.path, name, err))
		}
	}
	return problems, nil
}

// setFromString parses s into v; on failure v is left unchanged. Lists
// are comma-separated, items trimmed, empty items dropped, so "" is the
// empty list.
func setFromString(v reflect.Value, s string) error {
	t := v.Type()
	if isList(t) {
		items := []string{}
		for it := range strings.SplitSeq(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		out := reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			if err := setFromString(out.Index(i), it); err != nil {
				return fmt.Errorf("item %q: %w", it, err)
			}
		}
		v.Set(out)
		return nil
	}
	tmp := reflect.New(t)
	if u, ok := tmp.Interface().(encoding.TextUnmarshaler); ok {
		if err := u.UnmarshalText([]byte(s)); err != nil {
			return err
		}
		v.Set(tmp.Elem())
		return nil
	}
	if t.Kind() == reflect.Pointer {
		p := reflect.New(t.Elem())
		if err := setFromString(p.Elem(), s); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
	bad := fmt.Errorf("must be %s, got %q", expect(t), s)
	e := tmp.Elem()
	trimmed := strings.TrimSpace(s)
	switch {
	case t == durationType:
		d, err := time.ParseDuration(trimmed)
		if err != nil {
			return bad
		}
		e.SetInt(int64(d))
	case t.Kind() == reflect.String:
		e.SetString(s)
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(trimmed)
		if err != nil {
			return bad
		}
		e.SetBool(b)
	case e.CanInt():
		n, err := strconv.ParseInt(trimmed, 0, t.Bits())
		if err != nil {
			return bad
		}
		e.SetInt(n)
	case e.CanUint():
		n, err := strconv.ParseUint(trimmed, 0, t.Bits())
		if err != nil {
			return bad
		}
		e.SetUint(n)
	case e.CanFloat():
		f, err := strconv.ParseFloat(trimmed, t.Bits())
		if err != nil {
			return bad
		}
		e.SetFloat(f)
	default:
		return fmt.Errorf("field type %s is not supported by the config loader", t)
	}
	v.Set(e)
	return nil
}

// ---------------------------------------------------------------------------
// Typo suggestions.

// renamedKey tells whether key is the old name of a key of the section
// v, whose type lists its renamed keys (old -> new) with a RenamedKeys
// method, and returns the new name.
func renamedKey(v reflect.Value, key string) (string, bool) {
	r, ok := v.Interface().(interface{ RenamedKeys() map[string]string })
	if !ok {
		return "", false
	}
	to, ok := r.RenamedKeys()[key]
	return to, ok
}

// suggestKey proposes the sibling key closest to a misspelt one.
func suggestKey(key string, fields []structField) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.key
	}
	if best := closest(key, names); best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return ""
}

// suggestEnv proposes the known variable closest to a misspelt one.
func suggestEnv(name string, leaves map[string]leaf) string {
	names := make([]string, 0, len(leaves))
	for n := range leaves {
		names = append(names, n)
	}
	slices.Sort(names)
	if best := closest(name, names); best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return ""
}

// closest returns the candidate within a small edit distance of s, or "".
func closest(s string, candidates []string) string {
	best, bestD := "", max(2, len(s)/4)+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
