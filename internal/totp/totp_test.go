package totp

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestRFC6238Vectors checks Code against every test vector of RFC 6238
// appendix B (8 digits; the seeds are the ASCII strings of the RFC, one
// length per hash).
func TestRFC6238Vectors(t *testing.T) {
	seed20 := []byte("12345678901234567890")
	seed32 := []byte("12345678901234567890123456789012")
	seed64 := []byte("1234567890123456789012345678901234567890123456789012345678901234")
	for _, tc := range []struct {
		name             string
		unix             int64
		sha1, s256, s512 string
	}{
		{"59", 59, "94287082", "46119246", "90693936"},
		{"1111111109", 1111111109, "07081804", "68084774", "25091201"},
		{"1111111111", 1111111111, "14050471", "67062674", "99943326"},
		{"1234567890", 1234567890, "89005924", "91819424", "93441116"},
		{"2000000000", 2000000000, "69279037", "90698825", "38618901"},
		{"20000000000", 20000000000, "65353130", "77737706", "47863826"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step := Step(time.Unix(tc.unix, 0))
			for _, h := range []struct {
				name string
				hash Hash
				seed []byte
				want string
			}{{"SHA1", SHA1, seed20, tc.sha1}, {"SHA256", SHA256, seed32, tc.s256}, {"SHA512", SHA512, seed64, tc.s512}} {
				if got := Code(h.hash, h.seed, step, 8); got != h.want {
					t.Errorf("%s at %d: got %s, want %s", h.name, tc.unix, got, h.want)
				}
			}
		})
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	cur := Step(now)
	code := func(s int64) string { return Code(SHA1, secret, s, Digits) }
	for _, tc := range []struct {
		name string
		code string
		last int64
		want int64 // -1: refused
	}{
		{"current step", code(cur), 0, cur},
		{"previous step (skew)", code(cur - 1), 0, cur - 1},
		{"next step (skew)", code(cur + 1), 0, cur + 1},
		{"two steps back", code(cur - 2), 0, -1},
		{"two steps ahead", code(cur + 2), 0, -1},
		{"far step", code(cur - 1000), 0, -1},
		{"spaces typed", code(cur)[:3] + " " + code(cur)[3:], 0, cur},
		{"already used", code(cur), cur, -1},
		{"earlier than last used", code(cur - 1), cur, -1},
		{"later than last used", code(cur + 1), cur, cur + 1},
		{"wrong digits", "000000", 0, -1},
		{"too short", code(cur)[:5], 0, -1},
		{"not digits", "12345a", 0, -1},
		{"empty", "", 0, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "wrong digits" && (code(cur-1) == "000000" || code(cur) == "000000" || code(cur+1) == "000000") {
				t.Skip("the window holds 000000")
			}
			got, err := Verify(secret, tc.code, now, tc.last)
			if tc.want < 0 {
				if err == nil {
					t.Fatalf("accepted (step %d), want refused", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want step %d", got, err, tc.want)
			}
		})
	}
}

func TestURI(t *testing.T) {
	secret := []byte("12345678901234567890")
	u, err := url.Parse(URI("Example Co", "alice@example.com", secret))
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Example Co:alice@example.com" {
		t.Errorf("label: %s %s %s", u.Scheme, u.Host, u.Path)
	}
	q := u.Query()
	if q.Get("secret") != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" || q.Get("issuer") != "Example Co" ||
		q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Errorf("query: %v", q)
	}
	if g := GroupedSecret(secret); strings.ReplaceAll(g, " ", "") != q.Get("secret") || len(strings.Fields(g)) != 8 {
		t.Errorf("grouped: %q", g)
	}
	if len(NewSecret()) != SecretLen {
		t.Error("secret length")
	}
}

// FuzzVerify: any typed input is refused or accepted without a panic,
// and only ever for a step inside the window.
func FuzzVerify(f *testing.F) {
	f.Add("123456")
	f.Add("12 34-56")
	f.Add("\x00\xff")
	secret := []byte("12345678901234567890")
	now := time.Unix(1234567890, 0)
	f.Fuzz(func(t *testing.T, code string) {
		s, err := Verify(secret, code, now, 0)
		if err == nil && (s < Step(now)-Skew || s > Step(now)+Skew) {
			t.Fatalf("step %d outside the window", s)
		}
	})
}
