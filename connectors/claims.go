package connectors

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxClaimLen bounds a string taken from upstream claims.
const maxClaimLen = 1024

// maxGroups bounds how many groups an identity keeps.
const maxGroups = 256

// MapClaims reads an identity's fields from upstream claims through the
// mapping. The subject must be a non-empty string (or a number, as
// GitHub's ids are); other fields of the wrong type are left empty
// rather than refused, since an upstream may omit or shape them freely.
func MapClaims(m ClaimMapping, claims map[string]any) (Identity, error) {
	name := func(set, def string) string {
		if set != "" {
			return set
		}
		return def
	}
	id := Identity{Claims: claims}
	switch v := claims[name(m.Subject, "sub")].(type) {
	case string:
		id.Subject = v
	case float64:
		if v == float64(int64(v)) && v > 0 {
			id.Subject = strconv.FormatInt(int64(v), 10)
		}
	}
	if id.Subject == "" || len(id.Subject) > 255 || !utf8.ValidString(id.Subject) {
		return Identity{}, fmt.Errorf("%w: no usable subject", ErrInvalidToken)
	}
	id.Email = str(claims[name(m.Email, "email")])
	switch v := claims[name(m.EmailVerified, "email_verified")].(type) {
	case bool:
		id.EmailVerified = v
	case string:
		// Some providers send the boolean as a string.
		id.EmailVerified = v == "true"
	}
	if id.Email == "" {
		id.EmailVerified = false
	}
	id.PreferredUsername = str(claims[name(m.PreferredUsername, "preferred_username")])
	id.Name = str(claims[name(m.Name, "name")])
	if gs, ok := claims[name(m.Groups, "groups")].([]any); ok {
		for _, g := range gs {
			if s := str(g); s != "" && len(id.Groups) < maxGroups {
				id.Groups = append(id.Groups, s)
			}
		}
	}
	if amr, ok := claims["amr"].([]any); ok {
		for _, a := range amr {
			if s := str(a); s != "" && len(id.AMR) < 16 && len(s) <= 64 {
				id.AMR = append(id.AMR, s)
			}
		}
	}
	if acr := str(claims["acr"]); len(acr) <= 255 {
		id.ACR = acr
	}
	return id, nil
}

// str is v when it is a string of sensible size, else "".
func str(v any) string {
	s, ok := v.(string)
	if !ok || len(s) > maxClaimLen || !utf8.ValidString(s) {
		return ""
	}
	return s
}
