package console

import (
	"time"

	"authrim/audit"
	"authrim/directory"
	"authrim/http/management"
	"authrim/webhooks"
)

// samplePageData runs every page once at start (newPageSet), so a
// template error stops the node instead of failing a request; the
// screenshots in docs/img are of these pages with real data.
var samplePageData = func() map[string]map[string]any {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	signed := func(m map[string]any) map[string]any {
		m["Base"], m["CSRF"], m["Admin"] = Base, "csrf", "ada"
		return m
	}
	user := directory.User{Subject: "sub1", Username: "ada", Admin: true, Created: now, Updated: now, Claims: map[string]any{"email": "ada@example.com"}}
	client := management.ClientView{ClientID: "app", ClientSecret: "s3cret", ClientMetadata: directory.ClientMetadata{
		Name: "App", RedirectURIs: []string{"https://app.example/cb"}, AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"},
	}}
	hook := webhooks.View{ID: "wh_1", URL: "https://hooks.example/authrim", Events: []string{"sign_in_*", "grant_revoked"},
		Description: "SIEM", Enabled: false, Failures: 3, DisabledReason: "disabled by an operator", Created: now, Updated: now, Secret: "whsec_x"}
	hookForm := map[string]string{"url": hook.URL, "events": "sign_in_*", "description": ""}
	return map[string]map[string]any{
		"webhooks.html": signed(map[string]any{"Title": "t", "Nav": "webhooks", "Webhooks": []webhooks.View{hook}, "Form": hookForm}),
		"webhook.html": signed(map[string]any{"Title": "t", "Nav": "webhooks", "Webhook": hook, "Form": hookForm, "Attempts": []webhooks.Attempt{
			{MessageID: "m", EventID: "e", EventType: "sign_in_failed", Attempt: 2, At: now, Status: 500, Error: "HTTP 500"},
			{MessageID: "m", EventID: "e", EventType: "sign_in_failed", Attempt: 3, At: now, Status: 200, OK: true},
		}}),
		"webhook_secret.html": signed(map[string]any{"Title": "t", "Nav": "webhooks", "Webhook": hook}),
		"error.html":          {"Base": Base, "Title": "t", "Message": "m"},
		"signed_in.html":      {"Base": Base, "Title": "t", "Next": Base + "/users"},
		"signed_out.html":     {"Base": Base, "Title": "t"},
		"confirm.html":        signed(map[string]any{"Title": "t", "Action": Base + "/users/sub1/delete", "Question": "q", "Button": "b", "Back": Base, "Fields": map[string]string{"reason": "r"}}),
		"users.html": signed(map[string]any{"Title": "t", "Nav": "users", "Query": "a", "Username": "",
			"Users": []userRow{{UserView: management.UserView{Subject: "sub1", Username: "ada", Admin: true}, Email: "ada@example.com"}}}),
		"user.html": signed(map[string]any{"Title": "t", "Nav": "users", "User": user, "Self": false, "Claims": claimRows(user.Claims),
			"Sessions": []management.SessionView{{Sid: "s", SignedIn: now, Device: "Chrome", Address: "192.0.2.1", Clients: []string{"app"}}},
			"Links":    []management.LinkView{{Issuer: "https://accounts.google.com", Subject: "1234", Connector: "google", Email: "ada@example.com", Created: now}}}),
		"clients.html":       signed(map[string]any{"Title": "t", "Nav": "clients", "Clients": []management.ClientView{client}, "Form": map[string]string{"method": "none"}}),
		"client.html":        signed(map[string]any{"Title": "t", "Nav": "clients", "Client": client, "Redirects": "https://app.example/cb"}),
		"client_secret.html": signed(map[string]any{"Title": "t", "Nav": "clients", "Client": client}),
		"keys.html": signed(map[string]any{"Title": "t", "Nav": "keys", "Groups": []keyGroup{{Alg: "ES256", Keys: []management.KeyView{
			{Kid: "k1", Alg: "ES256", Status: "active", Created: &now, Activated: &now},
			{Kid: "k0", Alg: "ES256", Status: "revoked", Created: &now, Revoked: &now, RevokeReason: "leak"},
		}}}}),
		"revoke.html": signed(map[string]any{"Title": "t", "Nav": "keys", "Action": Base + "/keys/k1/revoke", "Kid": "k1", "Reason": ""}),
		"cluster.html": signed(map[string]any{"Title": "t", "Nav": "cluster", "Status": map[string]any{
			"node": "n1", "storage": "etcd", "members": []any{"n1"}, "key_manager_node": "n1", "etcd_leader": "n1",
			"peers": []any{map[string]any{"node": "n2", "address": "a", "alive": true}},
			"etcd":  []any{map[string]any{"name": "n1", "client_urls": []any{"u"}, "healthy": true, "leader": true}},
		}}),
		"audit.html": signed(map[string]any{"Title": "t", "Nav": "audit", "Events": []audit.Event{{Time: now, Type: "t", Subject: "s", Attrs: map[string]string{"actor": "a"}}},
			"Older": Base + "/audit?before=x"}),
	}
}()
