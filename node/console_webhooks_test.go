package node_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"authrim/audit"
	"authrim/http/console"
	"authrim/internal/eventually"
	"authrim/node"
	"authrim/webhooks"
)

// hookOP is a node whose console can subscribe h (on loopback, TLS
// through the test CA), with fast delivery retries.
func hookOP(t *testing.T, h *hookServer, adjust func(*node.Config)) *op {
	t.Helper()
	return startOPWith(t, func(c *node.Config) {
		c.Requests.Fetch.AllowPrivateAddresses = true
		c.Requests.Fetch.CAFile = h.caFile
		c.Delivery.RetryInitial = node.Duration(20 * time.Millisecond)
		c.Delivery.RetryMax = node.Duration(100 * time.Millisecond)
		c.Delivery.ScanInterval = node.Duration(200 * time.Millisecond)
		if adjust != nil {
			adjust(c)
		}
	})
}

// hookOf reads a subscription through the admin API (404: gone).
func hookOf(t *testing.T, o *op, id string) (webhooks.View, bool) {
	t.Helper()
	status, body := admin(t, o.n, http.MethodGet, "/admin/webhooks/"+id, adminToken, "")
	if status == http.StatusNotFound {
		return webhooks.View{}, false
	}
	var v webhooks.View
	if status != http.StatusOK || json.Unmarshal(body, &v) != nil {
		t.Fatalf("webhook %s: %d %s", id, status, body)
	}
	return v, true
}

var (
	hookIDRE     = regexp.MustCompile(`id="webhook-id">([^<]+)<`)
	hookSecretRE = regexp.MustCompile(`id="webhook-secret">(whsec_[^<]+)<`)
)

// The console keeps webhook subscriptions through the admin API's own
// operations: created with the secret shown once (the receiver verifies
// deliveries with it), edited, disabled and enabled, its secret rotated
// and its subscription deleted after a confirmation, each change audited
// with the admin as actor; the delivery history is on its page; a bad
// subscription or a form without the CSRF token changes nothing.
func TestConsoleWebhooks(t *testing.T) {
	h := startHookServer(t, 2)
	o := hookOP(t, h, nil)
	b, token := signedInAdmin(t, o)
	post := func(path string, v url.Values) page {
		t.Helper()
		v.Set("csrf", token)
		return postForm(t, b, o.issuer+console.Base+path, v)
	}
	none := func() bool {
		_, body := admin(t, o.n, http.MethodGet, "/admin/webhooks", adminToken, "")
		return strings.Contains(string(body), `"webhooks":[]`)
	}

	// Refused: no CSRF token, plain http, a malformed event type.
	if p := postForm(t, b, o.issuer+console.Base+"/webhooks", url.Values{"url": {h.srv.URL + "/hook"}, "events": {"*"}}); p.status != http.StatusForbidden || !none() {
		t.Fatalf("without the CSRF token: %d %s", p.status, p.body)
	}
	for _, tc := range []struct{ name, url, events, want string }{
		{"plain http", "http://hooks.example/hook", "*", "https"},
		{"bad event", h.srv.URL + "/hook", "Sign In!", "not an event type"},
		{"no events", h.srv.URL + "/hook", " , ", "at least one"},
	} {
		p := post("/webhooks", url.Values{"url": {tc.url}, "events": {tc.events}, "description": {"kept"}})
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, tc.want) || !strings.Contains(p.body, `value="kept"`) || !none() {
			t.Fatalf("%s: %d, want 400 saying %q with the form kept and nothing stored: %s", tc.name, p.status, tc.want, p.body)
		}
	}

	// Created: the secret is on this page only.
	p := post("/webhooks", url.Values{"url": {h.srv.URL + "/hook"}, "events": {"admin_user_created, admin_user_disabled"}, "description": {"SIEM"}})
	idm, sm := hookIDRE.FindStringSubmatch(p.body), hookSecretRE.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || idm == nil || sm == nil {
		t.Fatalf("create: %d %s", p.status, p.body)
	}
	// The page escapes the secret's base64 + and / for HTML.
	id, secret := idm[1], html.UnescapeString(sm[1])
	if v, ok := hookOf(t, o, id); !ok || v.URL != h.srv.URL+"/hook" || strings.Join(v.Events, ",") != "admin_user_created,admin_user_disabled" || v.Description != "SIEM" || !v.Enabled {
		t.Fatalf("stored %+v", v)
	}
	for _, path := range []string{"/webhooks", "/webhooks/" + id} {
		if p := get(t, b, o.issuer+console.Base+path); p.status != http.StatusOK || !strings.Contains(p.body, id) || strings.Contains(html.UnescapeString(p.body), secret) {
			t.Fatalf("%s shows the secret (or not the webhook): %d", path, p.status)
		}
	}

	// A wanted event reaches the receiver, which verifies it with the
	// secret the console showed; two failures, then a delivery, all in
	// the page's history.
	h.rx.SetSecret(secret)
	addUser(t, o.n, "una")
	eventually.True(t, "the receiver handles the event", func() bool { e, _ := h.received(); return len(e) == 1 })
	if e, _ := h.received(); e[0].Type != "admin_user_created" || e[0].Data.Attrs["username"] != "una" {
		t.Fatalf("received %+v", e[0])
	}
	// The successful attempt is recorded once the receiver has answered,
	// just after it handled the event.
	eventually.True(t, "the page's delivery history", func() bool {
		p = get(t, b, o.issuer+console.Base+"/webhooks/"+id)
		return strings.Count(p.body, "HTTP 500") == 2 && strings.Contains(p.body, "delivered") && strings.Contains(p.body, "admin_user_created")
	})

	// Edit; a refused edit changes nothing and keeps what was typed.
	if p := post("/webhooks/"+id+"/edit", url.Values{"url": {h.srv.URL + "/hook"}, "events": {"admin_user_*"}, "description": {""}}); p.status != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", p.status, p.body)
	}
	if v, _ := hookOf(t, o, id); strings.Join(v.Events, ",") != "admin_user_*" || v.Description != "" {
		t.Fatalf("edited %+v", v)
	}
	if p := post("/webhooks/"+id+"/edit", url.Values{"url": {"https://hooks.example/x#frag"}, "events": {"*"}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, "fragment") || !strings.Contains(p.body, "x#frag") {
		t.Fatalf("a bad edit: %d %s", p.status, p.body)
	}
	if v, _ := hookOf(t, o, id); v.URL != h.srv.URL+"/hook" || strings.Join(v.Events, ",") != "admin_user_*" {
		t.Fatalf("a refused edit changed the webhook: %+v", v)
	}

	// Disable and enable.
	if p := post("/webhooks/"+id+"/disable", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", p.status, p.body)
	}
	if v, _ := hookOf(t, o, id); v.Enabled {
		t.Fatal("still enabled")
	}
	if p := post("/webhooks/"+id+"/enable", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("enable: %d %s", p.status, p.body)
	}
	if v, _ := hookOf(t, o, id); !v.Enabled {
		t.Fatal("not enabled again")
	}

	// Rotate: asked first; then deliveries are signed with the new
	// secret only (the receiver still holding the old one refuses them
	// until it is given the new one).
	if p := post("/webhooks/"+id+"/rotate-secret", url.Values{}); p.status != http.StatusOK || !strings.Contains(p.body, `name="confirm" value="yes"`) || hookSecretRE.MatchString(p.body) {
		t.Fatalf("no confirmation asked: %d %s", p.status, p.body)
	}
	p = post("/webhooks/"+id+"/rotate-secret", url.Values{"confirm": {"yes"}})
	sm = hookSecretRE.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || sm == nil || html.UnescapeString(sm[1]) == secret {
		t.Fatalf("rotate: %d %s", p.status, p.body)
	}
	fresh := h.posts.Load()
	addUser(t, o.n, "vito")
	eventually.True(t, "a delivery refused under the old secret", func() bool { return h.posts.Load() > fresh })
	if e, _ := h.received(); len(e) != 1 {
		t.Fatalf("the receiver accepted a delivery signed with another secret: %+v", e)
	}
	h.rx.SetSecret(html.UnescapeString(sm[1]))
	eventually.True(t, "delivered under the new secret", func() bool { e, _ := h.received(); return len(e) == 2 })

	// Delete: asked first.
	if p := post("/webhooks/"+id+"/delete", url.Values{}); p.status != http.StatusOK || !strings.Contains(p.body, `name="confirm" value="yes"`) {
		t.Fatalf("no confirmation asked: %d %s", p.status, p.body)
	}
	if _, ok := hookOf(t, o, id); !ok {
		t.Fatal("deleted before the confirmation")
	}
	if p := post("/webhooks/"+id+"/delete", url.Values{"confirm": {"yes"}}); p.status != http.StatusSeeOther {
		t.Fatalf("confirmed: %d %s", p.status, p.body)
	}
	if _, ok := hookOf(t, o, id); ok {
		t.Fatal("not deleted after the confirmation")
	}
	if p := get(t, b, o.issuer+console.Base+"/webhooks/"+id); p.status != http.StatusNotFound {
		t.Fatalf("a deleted webhook's page: %d", p.status)
	}

	// Each change is audited with the admin as actor.
	for _, typ := range []string{"admin_webhook_created", "admin_webhook_updated", "admin_webhook_secret_rotated", "admin_webhook_deleted"} {
		eventually.True(t, typ+" audited with the admin", func() bool {
			evs := auditPage(t, o.n, url.Values{"type": {typ}}).Events
			for _, e := range evs {
				if e.Attrs[audit.ActorAttr] != o.user.Subject || e.Attrs["webhook"] != id {
					return false
				}
			}
			return len(evs) > 0
		})
	}
}
