package device_test

import (
	"errors"
	"strings"
	"testing"

	"authrim/actors/device"
)

func TestUserCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		c := device.NewUserCode()
		if len(c) != device.UserCodeLen || strings.Trim(c, device.Alphabet) != "" {
			t.Fatalf("user code %q: not %d letters of the alphabet", c, device.UserCodeLen)
		}
		got, err := device.ParseUserCode(device.Display(c))
		if err != nil || got != c {
			t.Fatalf("ParseUserCode(Display(%q)) = %q, %v", c, got, err)
		}
		seen[c] = true
	}
	if len(seen) < 1990 {
		t.Fatalf("only %d distinct codes of 2000", len(seen))
	}
}

// TestUserCodeCheckCatchesTypos: every single mistyped character and
// every swap of two different neighbours of a code is ErrUserCodeCheck,
// never another valid code.
func TestUserCodeCheckCatchesTypos(t *testing.T) {
	swapsMissed := 0
	for range 200 {
		c := device.NewUserCode()
		for i := range c {
			for _, r := range device.Alphabet {
				if byte(r) == c[i] {
					continue
				}
				typo := c[:i] + string(r) + c[i+1:]
				if _, err := device.ParseUserCode(typo); !errors.Is(err, device.ErrUserCodeCheck) {
					t.Fatalf("%q mistyped as %q: %v, want ErrUserCodeCheck", c, typo, err)
				}
			}
			if i+1 < len(c) && c[i] != c[i+1] {
				swapped := c[:i] + string(c[i+1]) + string(c[i]) + c[i+2:]
				if _, err := device.ParseUserCode(swapped); err == nil {
					swapsMissed++
				}
			}
		}
	}
	// Luhn mod N misses only swaps of two particular values; most are caught.
	if swapsMissed > 200*7/10 {
		t.Fatalf("%d swaps of neighbours passed the check", swapsMissed)
	}
}

func TestParseUserCode(t *testing.T) {
	c := device.NewUserCode()
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"display", device.Display(c), nil},
		{"lower case with spaces", " " + strings.ToLower(c[:4]) + " - " + strings.ToLower(c[4:]) + " ", nil},
		{"en dash", c[:4] + "\u2013" + c[4:], nil},
		{"too short", c[:7], device.ErrUserCodeFormat},
		{"too long", c + "B", device.ErrUserCodeFormat},
		{"vowel", "A" + c[1:], device.ErrUserCodeFormat},
		{"digit", "1" + c[1:], device.ErrUserCodeFormat},
		{"empty", "", device.ErrUserCodeFormat},
		{"overlong input", strings.Repeat("-", 100) + c, device.ErrUserCodeFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := device.ParseUserCode(tc.in)
			if !errors.Is(err, tc.want) || (err == nil && got != c) {
				t.Fatalf("ParseUserCode(%q) = %q, %v; want %q, %v", tc.in, got, err, c, tc.want)
			}
		})
	}
}

// FuzzParseUserCode: whatever is typed, the parser answers a normalised
// code of the alphabet that parses to itself, or one of its two errors.
func FuzzParseUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", device.Display(device.NewUserCode()), "", "ÄÖÜ-ß", "----------", "\u2013"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := device.ParseUserCode(in)
		if err != nil {
			if !errors.Is(err, device.ErrUserCodeFormat) && !errors.Is(err, device.ErrUserCodeCheck) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(got) != device.UserCodeLen || strings.Trim(got, device.Alphabet) != "" {
			t.Fatalf("ParseUserCode(%q) = %q", in, got)
		}
		if again, err := device.ParseUserCode(device.Display(got)); err != nil || again != got {
			t.Fatalf("not stable: %q -> %q, %v", got, again, err)
		}
	})
}
