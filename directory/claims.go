package directory

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

type claimKind int

const (
	kindString claimKind = iota
	kindBool
	kindURL
	kindEmail
	kindDate
	kindAddress
	kindList
)

// standardClaims are the claims a user record may hold: OpenID Connect
// Core 1.0 §5.1 minus sub and updated_at, which the directory sets itself.
var standardClaims = map[string]claimKind{
	"name":                  kindString,
	"given_name":            kindString,
	"family_name":           kindString,
	"middle_name":           kindString,
	"nickname":              kindString,
	"preferred_username":    kindString,
	"profile":               kindURL,
	"picture":               kindURL,
	"website":               kindURL,
	"email":                 kindEmail,
	"email_verified":        kindBool,
	"gender":                kindString,
	"birthdate":             kindDate,
	"zoneinfo":              kindString,
	"locale":                kindString,
	"phone_number":          kindString,
	"phone_number_verified": kindBool,
	"address":               kindAddress,
	// groups is not an OIDC Core claim: the names of the user's groups
	// (from an upstream directory or provider), released with the
	// groups scope.
	"groups": kindList,
}

// maxGroups bounds the groups claim; maxGroupLen one group's name.
const (
	maxGroups   = 256
	maxGroupLen = 256
)

// addressFields are the members of the address claim (OIDC Core §5.1.1).
var addressFields = []string{"formatted", "street_address", "locality", "region", "postal_code", "country"}

// StandardClaims lists the claim names a user may carry, sorted.
func StandardClaims() []string {
	names := make([]string, 0, len(standardClaims))
	for n := range standardClaims {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// maxClaimLen bounds one string claim, so a record stays small.
const maxClaimLen = 1024

// birthdate is YYYY-MM-DD, or YYYY alone (OIDC Core §5.1; 0000 stands for
// an omitted year).
var birthdateRe = regexp.MustCompile(`^[0-9]{4}(-[0-9]{2}-[0-9]{2})?$`)

// checkClaims validates claims and returns a copy holding only JSON-native
// values (string, bool, map[string]any), so the stored record reads back
// equal to what was accepted.
func checkClaims(claims map[string]any) (map[string]any, error) {
	if len(claims) == 0 {
		return nil, nil
	}
	var problems []string
	out := make(map[string]any, len(claims))
	for _, name := range sortedKeys(claims) {
		v := claims[name]
		kind, ok := standardClaims[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("unknown claim %q (allowed: %s)", clip(name), strings.Join(StandardClaims(), ", ")))
			continue
		}
		if kind == kindBool {
			b, ok := v.(bool)
			if !ok {
				problems = append(problems, fmt.Sprintf("claim %s must be a boolean", name))
				continue
			}
			out[name] = b
			continue
		}
		if kind == kindList {
			list, err := checkList(name, v)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			out[name] = list
			continue
		}
		if kind == kindAddress {
			addr, err := checkAddress(v)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			out[name] = addr
			continue
		}
		s, ok := v.(string)
		if !ok {
			problems = append(problems, fmt.Sprintf("claim %s must be a string", name))
			continue
		}
		if err := checkClaimString(name, kind, s); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		out[name] = s
	}
	if err := invalidAll(problems); err != nil {
		return nil, err
	}
	return out, nil
}

func checkClaimString(name string, kind claimKind, s string) error {
	if err := checkText(name, s); err != nil {
		return err
	}
	switch kind {
	case kindURL:
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("claim %s must be an absolute http(s) URL", name)
		}
	case kindEmail:
		// "Roughly valid": exactly one addr-spec (RFC 5322 §3.4.1), with
		// no display name, comment or surrounding text.
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s, "@") {
			return fmt.Errorf("claim email must be a plain address like user@example.com")
		}
	case kindDate:
		if !birthdateRe.MatchString(s) {
			return fmt.Errorf("claim birthdate must be YYYY-MM-DD or YYYY")
		}
		if len(s) == 10 {
			d := s
			if strings.HasPrefix(d, "0000") {
				d = "2000" + d[4:] // a leap year, so 0000-02-29 passes
			}
			if _, err := time.Parse(time.DateOnly, d); err != nil {
				return fmt.Errorf("claim birthdate is not a calendar date")
			}
		}
	}
	return nil
}

// checkText rejects empty, oversized, non-UTF-8 and control-character
// values: claims end up in ID tokens, userinfo responses and HTML.
func checkText(name, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("claim %s must not be empty (leave it out instead)", name)
	case len(s) > maxClaimLen:
		return fmt.Errorf("claim %s is longer than %d bytes", name, maxClaimLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("claim %s is not valid UTF-8", name)
	}
	for _, r := range s {
		// The formatted address may span lines (OIDC Core §5.1.1).
		if unicode.IsControl(r) && r != '\n' && r != '\r' {
			return fmt.Errorf("claim %s contains a control character", name)
		}
	}
	return nil
}

// checkList takes a list of distinct non-empty strings (groups) as
// []any, the shape it reads back from JSON.
func checkList(name string, v any) ([]any, error) {
	var in []any
	switch l := v.(type) {
	case []any:
		in = l
	case []string:
		for _, x := range l {
			in = append(in, x)
		}
	default:
		return nil, fmt.Errorf("claim %s must be a list of strings", name)
	}
	if len(in) == 0 {
		return nil, fmt.Errorf("claim %s must not be empty (leave it out instead)", name)
	}
	if len(in) > maxGroups {
		return nil, fmt.Errorf("claim %s holds more than %d entries", name, maxGroups)
	}
	out := make([]any, 0, len(in))
	seen := map[string]bool{}
	for _, x := range in {
		str, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("claim %s must be a list of strings", name)
		}
		if err := checkText(name, str); err != nil {
			return nil, err
		}
		if len(str) > maxGroupLen {
			return nil, fmt.Errorf("an entry of claim %s is longer than %d bytes", name, maxGroupLen)
		}
		if !seen[str] {
			seen[str] = true
			out = append(out, str)
		}
	}
	return out, nil
}

func checkAddress(v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("claim address must be an object with %s", strings.Join(addressFields, ", "))
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("claim address must not be empty (leave it out instead)")
	}
	out := make(map[string]any, len(m))
	for _, k := range sortedKeys(m) {
		if !slices.Contains(addressFields, k) {
			return nil, fmt.Errorf("unknown address field %q (allowed: %s)", clip(k), strings.Join(addressFields, ", "))
		}
		s, ok := m[k].(string)
		if !ok {
			return nil, fmt.Errorf("address field %s must be a string", k)
		}
		if err := checkText("address."+k, s); err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// clip shortens caller-supplied text quoted in an error message.
func clip(s string) string {
	const maxLen = 64
	if len(s) <= maxLen {
		return s
	}
	for i := maxLen; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "..."
		}
	}
	return "..."
}
