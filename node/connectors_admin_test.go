package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"authrim/connectors"
	"authrim/connectors/registry"
	"authrim/http/management"
	"authrim/internal/docexample"
	"authrim/internal/slapdtest"
	"authrim/node"
	"authrim/persistence"
	"authrim/persistence/bbolt"
)

// TestAdminConnectors: /admin/connectors lists config.yaml's connectors
// read-only and stores new ones (validated, ids unique across both,
// audited); no secret is ever shown, and the stored secret is sealed
// (the raw bucket does not hold it). A stored LDAP connector backs the
// sign-in form at once, without a restart, and stops when removed.
func TestAdminConnectors(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{})
	var storeDir string
	const staticSecret = "static-client-secret-value"
	o := startLDAPOP(t, s, nil, func(c *node.Config) {
		storeDir = c.Storage.Dir
		// No ldap connector in config: one is added through the API.
		c.Connectors = []connectors.Config{{ID: "corp-sso", Type: "oidc", Issuer: "https://sso.corp.example", ClientID: "c", ClientSecret: staticSecret}}
	})
	n := o.n
	alice := slapdtest.Users["alice"]

	var list management.ConnectorsView
	status, body := admin(t, n, http.MethodGet, "/admin/connectors", adminToken, "")
	if status != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Connectors) != 1 || !list.Connectors[0].ReadOnly ||
		list.Connectors[0].Source != "config" || !list.Connectors[0].SecretSet || bytes.Contains(body, []byte(staticSecret)) {
		t.Fatalf("list: %d %s", status, body)
	}

	// Before: the directory's alice is not known, the form refuses her.
	if p := o.formSignIn(t, browser(t), baseParams(), "alice", alice.Password); p.status != http.StatusUnauthorized {
		t.Fatalf("before the connector: %d", p.status)
	}

	ldapJSON := func(id, password string) string {
		return `{"id":"` + id + `","type":"ldap","name":"Corp directory","ldap":{"url":"` + s.URL + `","start_tls":true,"ca_file":"` + s.CAFile(t) +
			`","bind_dn":"` + slapdtest.ServiceDN + `","bind_password":"` + password + `","user_base":"` + slapdtest.UserBase +
			`","user_filter":"(objectClass=inetOrgPerson)","email_verified":true}}`
	}
	for name, tc := range map[string]struct{ body, want string }{
		"id of config.yaml":   {ldapJSON("corp-sso", "x"), "config.yaml"},
		"plaintext directory": {strings.Replace(ldapJSON("dir", "x"), `"start_tls":true`, `"start_tls":false`, 1), "plaintext"},
		"secret from a file":  {strings.Replace(ldapJSON("dir", "x"), `"bind_password":"x"`, `"bind_password_file":"/run/x"`, 1), "config.yaml"},
		"unknown key":         {`{"id":"dir","type":"ldap","bogus":1}`, "bogus"},
		"bad id":              {ldapJSON("Dir!", "x"), "id"},
	} {
		status, body := admin(t, n, http.MethodPost, "/admin/connectors", adminToken, tc.body)
		if status != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
			t.Fatalf("%s: %d %s", name, status, body)
		}
	}
	if status, body := admin(t, n, http.MethodGet, "/admin/connectors", adminToken, ""); !bytes.Contains(body, []byte(`"corp-sso"`)) || bytes.Contains(body, []byte(`"dir"`)) || status != http.StatusOK {
		t.Fatalf("a refused connector was stored: %s", body)
	}

	const bindSecretMarker = "service-secret"
	status, body = admin(t, n, http.MethodPost, "/admin/connectors", adminToken, ldapJSON("dir", slapdtest.ServicePassword))
	var v registry.View
	if status != http.StatusCreated || json.Unmarshal(body, &v) != nil || v.ID != "dir" || v.ReadOnly || !v.SecretSet || bytes.Contains(body, []byte(bindSecretMarker)) {
		t.Fatalf("create: %d %s", status, body)
	}
	if !hasAudit(o.logs, "admin: connector created") || strings.Contains(o.logs.String(), bindSecretMarker) {
		t.Fatal("create not audited, or the secret was logged")
	}
	if status, body := admin(t, n, http.MethodPost, "/admin/connectors", adminToken, ldapJSON("dir", "x")); status != http.StatusBadRequest {
		t.Fatalf("the same id twice: %d %s", status, body)
	}
	if status, body := admin(t, n, http.MethodPost, "/admin/connectors", adminToken, ldapJSON("dir2", "x")); status != http.StatusBadRequest || !strings.Contains(string(body), "only one ldap") {
		t.Fatalf("a second ldap connector: %d %s", status, body)
	}

	// Without a restart: the directory's alice signs in.
	b := browser(t)
	c := o.claimsAfter(t, b, o.formSignIn(t, b, baseParams(), "alice", alice.Password))
	if c["idp"] != "dir" {
		t.Fatalf("stored connector sign-in: %v", c)
	}

	// PATCH: a refused change changes nothing; a good one applies at once.
	if status, body := admin(t, n, http.MethodPatch, "/admin/connectors/dir", adminToken, `{"provisioning":"sometimes"}`); status != http.StatusBadRequest {
		t.Fatalf("bad patch: %d %s", status, body)
	}
	if status, body := admin(t, n, http.MethodPatch, "/admin/connectors/corp-sso", adminToken, `{"name":"x"}`); status != http.StatusBadRequest || !strings.Contains(string(body), "config.yaml") {
		t.Fatalf("patch of a config.yaml connector: %d %s", status, body)
	}
	status, body = admin(t, n, http.MethodPatch, "/admin/connectors/dir", adminToken, `{"provisioning":"existing-only"}`)
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"existing-only"`)) || !bytes.Contains(body, []byte(slapdtest.UserBase)) {
		t.Fatalf("patch: %d %s", status, body)
	}
	if p := o.formSignIn(t, browser(t), baseParams(), "bob", slapdtest.Users["bob"].Password); p.status != http.StatusForbidden {
		t.Fatalf("existing-only after the patch: %d", p.status)
	}

	// DELETE: the form no longer asks the directory.
	if status, _ := admin(t, n, http.MethodDelete, "/admin/connectors/corp-sso", adminToken, ""); status != http.StatusBadRequest {
		t.Fatalf("delete of a config.yaml connector: %d", status)
	}
	if status, _ := admin(t, n, http.MethodDelete, "/admin/connectors/dir", adminToken, ""); status != http.StatusNoContent || !hasAudit(o.logs, "admin: connector deleted") {
		t.Fatalf("delete: %d", status)
	}
	if status, _ := admin(t, n, http.MethodGet, "/admin/connectors/dir", adminToken, ""); status != http.StatusNotFound {
		t.Fatalf("get after delete: %d", status)
	}
	if p := o.formSignIn(t, browser(t), baseParams(), "bob", slapdtest.Users["bob"].Password); p.status != http.StatusUnauthorized {
		t.Fatalf("after delete: %d", p.status)
	}

	// At rest: the bind password is sealed.
	if status, _ := admin(t, n, http.MethodPost, "/admin/connectors", adminToken, ldapJSON("dir", slapdtest.ServicePassword)); status != http.StatusCreated {
		t.Fatal("re-create")
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := bbolt.Open(storeDir, bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	raw, err := st.Get(context.Background(), persistence.BucketConnectors, "dir")
	if err != nil {
		t.Fatal(err)
	}
	var rec registry.Record
	if json.Unmarshal(raw, &rec) != nil || len(rec.SealedSecret) == 0 || bytes.Contains(raw, []byte(bindSecretMarker)) {
		t.Fatalf("stored record: %s", raw)
	}
}

// TestREADMEConnectorsAPIExample: the README's admin API example stores
// a connector and lists it.
func TestREADMEConnectorsAPIExample(t *testing.T) {
	o := startOP(t)
	out := docexample.Run(t, "../README.md", "connectors-api", "ISSUER="+o.issuer, "ADMIN_TOKEN="+adminToken)
	if out != `"secret_set":true`+"\n"+`"id":"partner"`+"\n" {
		t.Fatalf("README example printed %q", out)
	}
}
