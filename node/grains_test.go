package node_test

import (
	"authrim/internal/eventually"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// A cookie naming no session activates a grain that finds nothing; the
// grain stops at once, so random cookies cannot pile up idle grains
// (each would otherwise stay for session.idle_timeout).
func TestUnknownSessionGrainsDoNotStay(t *testing.T) {
	o := startOP(t)
	before, err := o.n.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		req, _ := http.NewRequest("GET", o.issuer+"/account", nil)
		sid := fmt.Sprintf("nosuchsession%04dxxxxxxx", i)
		req.AddCookie(&http.Cookie{Name: "authrim_session", Value: sid + "." + strings.Repeat("s", 43)})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	eventually.True(t, "the unknown sessions' grains to stop", func() bool {
		st, err := o.n.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st.Grains["Session"] <= before.Grains["Session"]
	})
}
