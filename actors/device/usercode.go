package device

import (
	"crypto/rand"
	"errors"
	"strings"
)

// Alphabet of user codes: the base-20 consonants of RFC 8628 §6.1 (no
// vowels, so no words; no digits, so nothing to confuse with letters).
const Alphabet = "BCDFGHJKLMNPQRSTVWXZ"

// UserCodeLen is a user code's length: seven random characters (20^7,
// about 30 bits, with a ten-minute lifetime and throttled entry; RFC 8628
// §5.1) and a check character against typos.
const UserCodeLen = 8

var (
	// ErrUserCodeFormat: not a user code at all (length, characters).
	ErrUserCodeFormat = errors.New("device: not a user code")
	// ErrUserCodeCheck: the shape of a user code whose check character
	// does not match: a typo.
	ErrUserCodeCheck = errors.New("device: user code mistyped")
)

// NewUserCode returns a fresh user code, normalised (no dash).
func NewUserCode() string {
	vals := make([]int, UserCodeLen-1)
	buf := make([]byte, 1)
	for i := range vals {
		for {
			_, _ = rand.Read(buf)
			// 240 = 12*20: reject the rest so every character is equally
			// likely.
			if buf[0] < 240 {
				vals[i] = int(buf[0]) % len(Alphabet)
				break
			}
		}
	}
	var b strings.Builder
	for _, v := range vals {
		b.WriteByte(Alphabet[v])
	}
	b.WriteByte(Alphabet[checkValue(vals)])
	return b.String()
}

// Display is a normalised user code as the user sees it: XXXX-XXXX.
func Display(code string) string {
	if len(code) != UserCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// ParseUserCode normalises what the user typed (case, dashes, spaces)
// and checks it: ErrUserCodeFormat for something that is not a user
// code, ErrUserCodeCheck for one whose check character does not match
// (a typo: no such code was ever issued).
func ParseUserCode(in string) (string, error) {
	if len(in) > 64 {
		return "", ErrUserCodeFormat
	}
	var b strings.Builder
	var vals []int
	for _, r := range strings.ToUpper(in) {
		switch r {
		case '-', ' ', '\t', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014':
			continue
		}
		i := strings.IndexRune(Alphabet, r)
		if i < 0 {
			return "", ErrUserCodeFormat
		}
		b.WriteRune(r)
		vals = append(vals, i)
	}
	if len(vals) != UserCodeLen {
		return "", ErrUserCodeFormat
	}
	if checkValue(vals[:UserCodeLen-1]) != vals[UserCodeLen-1] {
		return "", ErrUserCodeCheck
	}
	return b.String(), nil
}

// checkValue is the Luhn mod N check character of vals (N = 20): it
// catches every single mistyped character and most swaps of neighbours.
func checkValue(vals []int) int {
	n := len(Alphabet)
	sum, factor := 0, 2
	for i := len(vals) - 1; i >= 0; i-- {
		a := factor * vals[i]
		sum += a/n + a%n
		factor = 3 - factor
	}
	return (n - sum%n) % n
}
