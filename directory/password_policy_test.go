package directory_test

import (
	"errors"
	"strings"
	"testing"

	"authrim/directory"
)

// Each rule of the password policy, with the password an attacker (or a
// careless user) would pick that the rule stops, and the passwords NIST
// SP 800-63B says must be allowed.
func TestPasswordPolicy(t *testing.T) {
	block, err := directory.ReadPasswordList(strings.NewReader("# ours\n\nAcmeCorp2026\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := directory.PasswordPolicy{Blocklist: block}
	refused := []struct{ name, pw, user, want string }{
		{"too short", "sh0rt!", "", "at least 8 characters"},
		// Length is counted in characters, not bytes: 7 kana are 21 bytes.
		{"too short in characters", "あいうえおかき", "", "at least 8 characters"},
		{"too long", strings.Repeat("x", directory.MaxPasswordLen+1), "", "at most"},
		{"breached", "baseball", "", "too common"},
		{"breached whatever the case", "BaseBall", "", "too common"},
		{"breached, long", "1234567890", "", "too common"},
		{"operator's list", "acmecorp2026", "", "too common"},
		{"contains the username", "xX-Margaret-Xx", "margaret", "username"},
		{"repeated", "zzzzzzzzzzzz", "", "repeated or sequential"},
		{"ascending", "abcdefghij", "", "repeated or sequential"},
		{"descending", "98765432", "", "repeated or sequential"},
		{"not UTF-8", "abc\xffdefgh", "", "UTF-8"},
	}
	for _, tc := range refused {
		err := p.Check(tc.pw, tc.user)
		if !errors.Is(err, directory.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check = %v, want an ErrInvalid saying %q", tc.name, err, tc.want)
		}
		if err != nil && len(tc.pw) > 0 && strings.Contains(err.Error(), tc.pw) {
			t.Errorf("%s: the error repeats the password: %v", tc.name, err)
		}
	}
	allowed := []struct{ name, pw, user string }{
		{"passphrase with spaces", "correct horse battery staple", "alice"},
		{"no composition rules", "lowercaseonly", ""},
		{"unicode", "パスワードは長い", ""},
		{"emoji and symbols", "🔑 unlock ⚿ now", ""},
		{"short username is not a rule", "bobsled racing", "bob"},
		{"exactly the maximum", strings.Repeat("é!", directory.MaxPasswordLen/3), ""},
	}
	for _, tc := range allowed {
		if err := p.Check(tc.pw, tc.user); err != nil {
			t.Errorf("%s: Check = %v, want nil", tc.name, err)
		}
	}
	// A longer minimum (passwords.min_length).
	long := directory.PasswordPolicy{MinLength: 15}
	if err := long.Check("twelve chars", ""); err == nil || !strings.Contains(err.Error(), "at least 15") {
		t.Errorf("min_length 15: Check(12 characters) = %v", err)
	}
	if err := long.Check("fifteen chars!!", ""); err != nil {
		t.Errorf("min_length 15: Check(15 characters) = %v", err)
	}
}

// A directory applies its policy where passwords are set: creation and
// change.
func TestDirectoryAppliesPasswordPolicy(t *testing.T) {
	ctx := t.Context()
	d, _ := newDirectory(t, fast)
	if _, err := d.CreateUser(ctx, directory.NewUser{Username: "erin", Password: "football"}); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("create with a breached password: %v, want ErrInvalid", err)
	}
	if _, err := d.FindUser(ctx, "erin"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("a refused create left a user behind: %v", err)
	}
	mustCreateUser(t, d, directory.NewUser{Username: "erin", Password: "a fine long phrase"})
	if _, err := d.SetUserPassword(ctx, "erin", "sunshine"); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("set a breached password: %v, want ErrInvalid", err)
	}
	if _, err := d.SetUserPassword(ctx, "erin", "erin's new phrase"); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("set a password holding the username: %v, want ErrInvalid", err)
	}
	if err := d.CheckPassword("another fine phrase", "erin"); err != nil {
		t.Fatalf("CheckPassword(good) = %v", err)
	}
	if err := d.CheckPassword("whatever", "erin"); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("CheckPassword(breached) = %v", err)
	}
	s := openStore(t, t.TempDir())
	if _, err := directory.New(s, directory.Options{Passwords: directory.PasswordPolicy{MinLength: 4}}); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("min length 4 accepted: %v", err)
	}
}

func FuzzPasswordPolicy(f *testing.F) {
	f.Add("correct horse", "alice")
	f.Add("12345678", "")
	f.Add("\xff\xfe", "x")
	p := directory.PasswordPolicy{}
	f.Fuzz(func(t *testing.T, pw, user string) {
		err := p.Check(pw, user)
		if err != nil && !errors.Is(err, directory.ErrInvalid) {
			t.Fatalf("Check = %v, not ErrInvalid", err)
		}
		if err2 := p.Check(pw, user); (err == nil) != (err2 == nil) {
			t.Fatal("Check is not deterministic")
		}
	})
}
