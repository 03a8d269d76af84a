package directory

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// The password policy follows NIST SP 800-63B (rev. 4, §3.1.1.2): a
// minimum length, a generous maximum, every character allowed, no
// composition rules ("one digit, one symbol"), and a check against
// passwords known to be common or breached and against the context (the
// account's own username). It applies wherever a password is set: user
// creation, password change and reset (CreateUser, SetUserPassword).

// Bounds of passwords.min_length. NIST asks for at least 15 characters
// when a password is the only factor and at least 8 with a second one;
// the default is 8 so that existing deployments keep working, and the
// README recommends 15 where MFA is not required.
const (
	DefaultPasswordMinLength = 8
	MinPasswordMinLength     = 8
	MaxPasswordMinLength     = 64
)

// MinPasswordLen is the default minimum, in characters.
const MinPasswordLen = DefaultPasswordMinLength

// MaxPasswordLen bounds a password in bytes; it only keeps requests small
// (NIST: at least 64 characters must be allowed).
const MaxPasswordLen = 1024

//go:embed common_passwords.txt
var commonPasswordsFile string

// commonPasswords is the shipped list, lower-cased.
var commonPasswords = mustReadPasswordList(strings.NewReader(commonPasswordsFile))

// PasswordPolicy is what a new password must satisfy. The zero value is
// the default: 8 characters and the shipped list.
type PasswordPolicy struct {
	// MinLength is the minimum in characters (Unicode code points),
	// MinPasswordMinLength..MaxPasswordMinLength; 0 means the default.
	MinLength int
	// Blocklist adds the operator's own list (passwords.blocklist_file,
	// read with ReadPasswordList) to the shipped one.
	Blocklist map[string]struct{}
}

// ReadPasswordList reads a list of refused passwords: one per line,
// lines starting with # and blank lines ignored, compared without case.
func ReadPasswordList(r io.Reader) (map[string]struct{}, error) {
	set := map[string]struct{}{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxPasswordLen+2)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[strings.ToLower(line)] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("password list: %w", err)
	}
	return set, nil
}

func mustReadPasswordList(r io.Reader) map[string]struct{} {
	set, err := ReadPasswordList(r)
	if err != nil {
		panic(err)
	}
	return set
}

// validate checks the policy's own settings.
func (p PasswordPolicy) validate() error {
	if p.MinLength != 0 && (p.MinLength < MinPasswordMinLength || p.MinLength > MaxPasswordMinLength) {
		return invalid("password minimum length must be %d..%d characters, got %d", MinPasswordMinLength, MaxPasswordMinLength, p.MinLength)
	}
	return nil
}

func (p PasswordPolicy) minLength() int {
	if p.MinLength == 0 {
		return DefaultPasswordMinLength
	}
	return p.MinLength
}

// Check applies the policy to pw, the password of the account named
// username (empty when unknown). The errors wrap ErrInvalid and say
// what to change, never echo the password.
func (p PasswordPolicy) Check(pw, username string) error {
	if len(pw) > MaxPasswordLen {
		return invalid("password must be at most %d bytes", MaxPasswordLen)
	}
	if !utf8.ValidString(pw) {
		return invalid("password must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(pw); n < p.minLength() {
		return invalid("password must be at least %d characters", p.minLength())
	}
	lower := strings.ToLower(pw)
	if _, ok := commonPasswords[lower]; ok {
		return invalid("password is too common: it appears in lists of breached passwords")
	}
	if _, ok := p.Blocklist[lower]; ok {
		return invalid("password is too common: it appears in lists of breached passwords")
	}
	if username != "" && strings.Contains(lower, strings.ToLower(username)) && utf8.RuneCountInString(username) >= 4 {
		return invalid("password must not contain the username")
	}
	if repetitiveOrSequential(pw) {
		return invalid("password must not be one repeated or sequential run of characters (aaaaaaaa, 12345678)")
	}
	return nil
}

// repetitiveOrSequential reports whether pw is one character repeated or
// a run of consecutive characters going up or down (NIST SP 800-63B
// rev. 3 §5.1.1.2 names both).
func repetitiveOrSequential(pw string) bool {
	rs := []rune(pw)
	if len(rs) < 2 {
		return true
	}
	step := rs[1] - rs[0]
	if step < -1 || step > 1 {
		return false
	}
	for i := 2; i < len(rs); i++ {
		if rs[i]-rs[i-1] != step {
			return false
		}
	}
	return true
}

// CheckPassword applies the directory's password policy to a password
// about to be set for the account named username: front ends ask it
// before anything else happens (a reset link is spent only on a password
// that will be accepted).
func (d *Directory) CheckPassword(pw, username string) error {
	return d.passwords.Check(pw, username)
}
