package token

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestParseFormResource: resource may repeat (RFC 8707 §2), up to
// MaxResources times; any other parameter still may not.
func TestParseFormResource(t *testing.T) {
	parse := func(v url.Values) error {
		r := httptest.NewRequest("POST", "/token", strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, err := ParseForm(r)
		return err
	}
	if err := parse(url.Values{"resource": {"https://a.example/", "https://b.example/"}}); err != nil {
		t.Errorf("two resources refused: %v", err)
	}
	if err := parse(url.Values{"scope": {"a", "b"}}); err == nil {
		t.Error("repeated scope accepted")
	}
	many := make([]string, MaxResources+1)
	for i := range many {
		many[i] = "https://a.example/" + strings.Repeat("x", i)
	}
	if err := parse(url.Values{"resource": many}); err == nil {
		t.Error("more than MaxResources resources accepted")
	}
	if err := parse(url.Values{"resource": {"https://a.example/", strings.Repeat("x", 5000)}}); err == nil {
		t.Error("an over-long second resource accepted")
	}
}
