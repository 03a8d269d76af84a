package mtls

// Subject DN matching for tls_client_auth_subject_dn (RFC 8705 §2.1.2):
// the registered value is an RFC 4514 string; a certificate matches when
// its subject has the same RDNs in the same order, each with the same
// attributes, values compared without regard to case or runs of spaces
// (the caseIgnoreMatch most DN attributes use, RFC 4517 §4.2.11).

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"
)

// ErrBadDN: a subject DN that is not an RFC 4514 string.
var ErrBadDN = errors.New("mtls: malformed distinguished name")

// maxDNLen bounds a registered DN.
const maxDNLen = 2048

// attribute names of RFC 4514 §3 and the common ones besides
// (emailAddress, as OpenSSL writes it, among them).
var attrOIDs = map[string]string{
	"CN": "2.5.4.3", "C": "2.5.4.6", "L": "2.5.4.7", "ST": "2.5.4.8", "STREET": "2.5.4.9",
	"O": "2.5.4.10", "OU": "2.5.4.11", "SERIALNUMBER": "2.5.4.5", "POSTALCODE": "2.5.4.17",
	"DC": "0.9.2342.19200300.100.1.25", "UID": "0.9.2342.19200300.100.1.1",
	"EMAILADDRESS": "1.2.840.113549.1.9.1", "E": "1.2.840.113549.1.9.1",
	"TITLE": "2.5.4.12", "GIVENNAME": "2.5.4.42", "SN": "2.5.4.4",
	"ORGANIZATIONIDENTIFIER": "2.5.4.97",
}

// atv is one attribute: its type as a dotted OID and its value
// normalised for comparison.
type atv struct{ typ, val string }

// dn is a DN in RFC 4514 order (the last RDN of the certificate's
// sequence first), each RDN's attributes sorted.
type dn [][]atv

// ParseDN checks that s is an RFC 4514 distinguished name.
func ParseDN(s string) error {
	_, err := parseDN(s)
	return err
}

func parseDN(s string) (dn, error) {
	if s == "" || len(s) > maxDNLen || !utf8.ValidString(s) {
		return nil, ErrBadDN
	}
	var out dn
	var rdn []atv
	i := 0
	for {
		// attributeType "=" attributeValue
		j := strings.IndexByte(s[i:], '=')
		if j <= 0 {
			return nil, ErrBadDN
		}
		typ, ok := attrType(strings.TrimSpace(s[i : i+j]))
		if !ok {
			return nil, ErrBadDN
		}
		i += j + 1
		val, n, err := attrValue(s[i:])
		if err != nil {
			return nil, err
		}
		i += n
		rdn = append(rdn, atv{typ, val})
		if i == len(s) {
			out = append(out, sortRDN(rdn))
			return out, nil
		}
		switch s[i] {
		case '+':
		case ',', ';':
			out = append(out, sortRDN(rdn))
			rdn = nil
		default:
			return nil, ErrBadDN
		}
		i++
	}
}

func sortRDN(r []atv) []atv {
	slices.SortFunc(r, func(a, b atv) int { return strings.Compare(a.typ+"="+a.val, b.typ+"="+b.val) })
	return r
}

// attrType is a descriptor's OID, or a numeric OID as it is.
func attrType(t string) (string, bool) {
	if oid, ok := attrOIDs[strings.ToUpper(t)]; ok {
		return oid, true
	}
	if strings.HasPrefix(strings.ToUpper(t), "OID.") {
		t = t[4:]
	}
	if t == "" {
		return "", false
	}
	for _, part := range strings.Split(t, ".") {
		if part == "" || strings.Trim(part, "0123456789") != "" || len(part) > 1 && part[0] == '0' {
			return "", false
		}
	}
	if !strings.Contains(t, ".") {
		return "", false
	}
	return t, true
}

// attrValue reads one value up to an unescaped ',', ';' or '+' (RFC 4514
// §3), returning it normalised and the bytes read.
func attrValue(s string) (string, int, error) {
	i := 0
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i < len(s) && s[i] == '#' {
		// hexstring: the BER encoding of the value.
		j := i + 1
		for j < len(s) && isHex(s[j]) {
			j++
		}
		der, err := hex.DecodeString(s[i+1 : j])
		if err != nil || len(der) == 0 {
			return "", 0, ErrBadDN
		}
		k := j
		for k < len(s) && s[k] == ' ' {
			k++
		}
		if k < len(s) && !strings.ContainsRune(",;+", rune(s[k])) {
			return "", 0, ErrBadDN
		}
		return berValue(der), k, nil
	}
	var b strings.Builder
	for i < len(s) {
		c := s[i]
		switch {
		case c == ',' || c == ';' || c == '+':
			return norm(b.String()), i, nil
		case c == '\\':
			if i+1 >= len(s) {
				return "", 0, ErrBadDN
			}
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				v, _ := hex.DecodeString(s[i+1 : i+3])
				b.WriteByte(v[0])
				i += 3
				continue
			}
			if !strings.ContainsRune(`"+,;<>\= #`, rune(s[i+1])) {
				return "", 0, ErrBadDN
			}
			b.WriteByte(s[i+1])
			i += 2
		case c == '"' || c == '<' || c == '>' || c == 0:
			return "", 0, ErrBadDN
		default:
			b.WriteByte(c)
			i++
		}
	}
	v := b.String()
	if !utf8.ValidString(v) {
		return "", 0, ErrBadDN
	}
	return norm(v), i, nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// berValue is a hexstring value as the certificate side renders it: the
// text of a string type, else the encoding in lowercase hex.
func berValue(der []byte) string {
	var v any
	if rest, err := asn1.Unmarshal(der, &v); err == nil && len(rest) == 0 {
		if s, ok := v.(string); ok {
			return norm(s)
		}
	}
	return "#" + hex.EncodeToString(der)
}

// norm folds case and collapses runs of spaces (RFC 4518 §2.6.1,
// insignificant space handling, simplified).
func norm(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// subjectDN is the certificate's subject in RFC 4514 order.
func subjectDN(c *x509.Certificate) dn {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(c.RawSubject, &seq); err != nil || len(rest) != 0 {
		return nil
	}
	out := make(dn, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		var r []atv
		for _, a := range seq[i] {
			v := ""
			if s, ok := a.Value.(string); ok {
				v = norm(s)
			} else if der, err := asn1.Marshal(a.Value); err == nil {
				v = "#" + hex.EncodeToString(der)
			}
			r = append(r, atv{a.Type.String(), v})
		}
		out = append(out, sortRDN(r))
	}
	return out
}

// MatchDN reports whether the certificate's subject is the registered
// RFC 4514 DN.
func MatchDN(c *x509.Certificate, registered string) bool {
	want, err := parseDN(registered)
	if err != nil {
		return false
	}
	return slices.EqualFunc(subjectDN(c), want, func(a, b []atv) bool { return slices.Equal(a, b) })
}
