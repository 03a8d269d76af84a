package auth

import "testing"

// TestResponseModes: the jwt modes are served only with WithResponses,
// jwt means query.jwt for the code flow (JARM §2.3.4), and fragment
// modes never are (no fragment responses here).
func TestResponseModes(t *testing.T) {
	plain, jarm := &Handler{}, (&Handler{}).WithResponses(&Responses{})
	for _, tc := range []struct {
		mode        string
		plain, jarm bool
		carrier     string
		isJWT       bool
	}{
		{"", true, true, "", false},
		{"query", true, true, "query", false},
		{"form_post", true, true, "form_post", false},
		{"jwt", false, true, "query", true},
		{"query.jwt", false, true, "query", true},
		{"form_post.jwt", false, true, "form_post", true},
		{"fragment.jwt", false, false, "fragment.jwt", false},
		{"fragment", false, false, "fragment", false},
		{"JWT", false, false, "JWT", false},
	} {
		if got := plain.supportedMode(tc.mode); got != tc.plain {
			t.Errorf("%q without JARM: %v", tc.mode, got)
		}
		if got := jarm.supportedMode(tc.mode); got != tc.jarm {
			t.Errorf("%q with JARM: %v", tc.mode, got)
		}
		if c, ok := jwtMode(tc.mode); c != tc.carrier || ok != tc.isJWT {
			t.Errorf("jwtMode(%q) = %q, %v", tc.mode, c, ok)
		}
	}
}
