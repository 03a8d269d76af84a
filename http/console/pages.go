package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/management"
)

// notices are the messages a change leaves on the page it returns to
// (?done=...), by code: only these can be shown.
var notices = map[string]string{
	"user-created":     "The user was created.",
	"user-disabled":    "The user was disabled and their sessions ended.",
	"user-enabled":     "The user was enabled.",
	"user-deleted":     "The user was deleted.",
	"mfa-reset":        "The user's second factors were reset.",
	"passkeys-deleted": "The user's passkeys were removed.",
	"sessions-ended":   "The user's sessions were ended.",
	"admin-granted":    "The user is now an admin.",
	"admin-revoked":    "The user is no longer an admin.",
	"link-removed":     "The linked sign-in was removed.",
	"client-updated":   "The client was saved.",
	"client-deleted":   "The client was deleted.",
	"keys-rotated":     "New keys were made; they sign once active.",
	"key-revoked":      "The key was revoked.",
	"webhook-updated":  "The webhook was saved.",
	"webhook-enabled":  "The webhook was enabled; its failure count starts again.",
	"webhook-disabled": "The webhook was disabled; events are no longer sent to it.",
	"webhook-deleted":  "The webhook was deleted.",
}

func (c *Console) notice(e echo.Context) string {
	if k, ok := notices[e.QueryParam("done")]; ok {
		return c.tr(e, k)
	}
	return ""
}

// refused shows why an operation refused a change (its description, in
// the API's words), or fails for an unexpected error.
func (c *Console) refused(e echo.Context, err error, what string) (string, bool) {
	if p := management.Problem(err, what); p != nil {
		return c.tr(e, "The change was refused: %s.", p.Description), true
	}
	return "", false
}

func done(e echo.Context, to, code string) error {
	return e.Redirect(http.StatusSeeOther, to+"?done="+code)
}

// --- users

type userRow struct {
	management.UserView
	Email string
}

func (c *Console) usersPage(e echo.Context) error {
	return c.showUsers(e, http.StatusOK, "", "")
}

func (c *Console) showUsers(e echo.Context, status int, msg, username string) error {
	list, err := c.users.Users(e.Request().Context())
	if err != nil {
		return c.fail(e, err)
	}
	q := strings.TrimSpace(e.QueryParam("q"))
	rows := []userRow{}
	for _, u := range list {
		email, _ := u.Claims["email"].(string)
		if q != "" && !containsFold(u.Username, q) && !containsFold(email, q) && u.Subject != q {
			continue
		}
		rows = append(rows, userRow{UserView: management.UserView{Subject: u.Subject, Username: u.Username, Disabled: u.Disabled, Admin: u.Admin, Created: u.Created}, Email: email})
	}
	return c.render(e, status, "users.html", map[string]any{
		"Title": c.tr(e, "Users"), "Nav": "users", "Query": q, "Users": rows, "Notice": c.notice(e), "Error": msg, "Username": username,
	})
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func (c *Console) createUser(e echo.Context) error {
	in := management.NewUserRequest{Username: strings.TrimSpace(e.FormValue("username")), Password: e.FormValue("password")}
	if email := strings.TrimSpace(e.FormValue("email")); email != "" {
		in.Claims = map[string]any{"email": email}
	}
	u, err := c.users.CreateUser(e.Request().Context(), in)
	if err != nil {
		if msg, ok := c.refused(e, err, "user"); ok {
			return c.showUsers(e, http.StatusBadRequest, msg, in.Username)
		}
		return c.fail(e, err)
	}
	return done(e, Base+"/users/"+url.PathEscape(u.Subject), "user-created")
}

func (c *Console) userPage(e echo.Context) error {
	return c.showUser(e, http.StatusOK, "")
}

func (c *Console) showUser(e echo.Context, status int, msg string) error {
	ctx := e.Request().Context()
	u, err := c.users.User(ctx, e.Param("id"))
	if err != nil {
		if m, ok := c.refused(e, err, "user"); ok {
			return c.message(e, http.StatusNotFound, m)
		}
		return c.fail(e, err)
	}
	data := map[string]any{
		"Title": u.Username, "Nav": "users", "User": u, "Notice": c.notice(e), "Error": msg,
		"Self": u.Subject == adminOf(e).Subject, "Claims": claimRows(u.Claims),
	}
	if sv, err := c.users.UserSessions(ctx, u.Subject); err == nil {
		data["Sessions"] = sv.Sessions
	}
	if lv, err := c.users.UserLinks(ctx, u.Subject); err == nil {
		data["Links"] = lv.Links
	}
	return c.render(e, status, "user.html", data)
}

type claimRow struct{ Name, Value string }

func claimRows(m map[string]any) []claimRow {
	var out []claimRow
	for k, v := range m {
		b, _ := json.Marshal(v)
		s := string(b)
		if str, ok := v.(string); ok {
			s = str
		}
		out = append(out, claimRow{k, s})
	}
	slices.SortFunc(out, func(a, b claimRow) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// userAction: POST /admin/console/users/{id}/{action}. An admin cannot
// disable, delete or demote themselves (the console would lock its last
// admin out); deleting asks for a confirmation first.
func (c *Console) userAction(e echo.Context) error {
	ctx := e.Request().Context()
	u, err := c.users.User(ctx, e.Param("id"))
	if err != nil {
		if m, ok := c.refused(e, err, "user"); ok {
			return c.message(e, http.StatusNotFound, m)
		}
		return c.fail(e, err)
	}
	action, self := e.Param("action"), u.Subject == adminOf(e).Subject
	back := Base + "/users/" + url.PathEscape(u.Subject)
	if self && (action == "disable" || action == "delete" || action == "revoke-admin") {
		return c.showUser(e, http.StatusBadRequest, c.tr(e, "You cannot do this to your own account."))
	}
	var code string
	switch action {
	case "disable", "enable":
		_, err = c.users.SetDisabled(ctx, u.Subject, action == "disable")
		code = "user-" + action + "d"
	case "grant-admin", "revoke-admin":
		_, err = c.users.SetAdmin(ctx, u.Subject, action == "grant-admin")
		code = strings.TrimSuffix(action, "-admin")
		code = "admin-" + map[string]string{"grant": "granted", "revoke": "revoked"}[code]
	case "reset-mfa":
		_, err = c.users.ResetMFA(ctx, u.Subject)
		code = "mfa-reset"
	case "delete-passkeys":
		_, err = c.users.DeletePasskeys(ctx, u.Subject)
		code = "passkeys-deleted"
	case "end-sessions":
		_, err = c.users.EndSessions(ctx, u.Subject)
		code = "sessions-ended"
	case "unlink":
		iss, sub := e.FormValue("issuer"), e.FormValue("subject")
		if e.FormValue("confirm") != "yes" {
			return c.confirm(e, back+"/unlink", c.tr(e, "Remove the linked sign-in %s (%s) from %s? They can no longer sign in with it.", sub, iss, u.Username),
				c.tr(e, "Remove linked sign-in"), back, map[string]string{"issuer": iss, "subject": sub})
		}
		err = c.users.RemoveUserLink(ctx, u.Subject, iss, sub)
		code = "link-removed"
	case "delete":
		if e.FormValue("confirm") != "yes" {
			return c.confirm(e, back+"/delete", c.tr(e, "Delete the user %s? Their sessions end and their account cannot be restored.", u.Username), c.tr(e, "Delete user"), back, nil)
		}
		if err = c.users.DeleteUser(ctx, u.Subject); err == nil {
			return done(e, Base+"/users", "user-deleted")
		}
	default:
		return echo.ErrNotFound
	}
	if err != nil {
		if msg, ok := c.refused(e, err, "user"); ok {
			return c.showUser(e, http.StatusBadRequest, msg)
		}
		return c.fail(e, err)
	}
	return done(e, back, code)
}

// confirm asks before a change that cannot be undone: the same form
// again with confirm=yes (and the fields given).
func (c *Console) confirm(e echo.Context, action, question, button, back string, fields map[string]string) error {
	return c.render(e, http.StatusOK, "confirm.html", map[string]any{
		"Title": c.tr(e, "Are you sure?"), "Action": action, "Question": question, "Button": button, "Back": back, "Fields": fields,
	})
}

// --- clients

func (c *Console) clientsPage(e echo.Context) error {
	return c.showClients(e, http.StatusOK, "", nil)
}

func (c *Console) showClients(e echo.Context, status int, msg string, form map[string]string) error {
	list, err := c.users.Clients(e.Request().Context())
	if err != nil {
		return c.fail(e, err)
	}
	// The console's own client is the node's; it is not edited here.
	list = slices.DeleteFunc(list, func(v management.ClientView) bool { return v.ClientID == ClientID })
	return c.render(e, status, "clients.html", map[string]any{
		"Title": c.tr(e, "Clients"), "Nav": "clients", "Clients": list, "Notice": c.notice(e), "Error": msg, "Form": form,
	})
}

func lines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (c *Console) createClient(e echo.Context) error {
	form := map[string]string{"name": e.FormValue("client_name"), "redirects": e.FormValue("redirect_uris"), "method": e.FormValue("token_endpoint_auth_method")}
	in := management.NewClientRequest{ClientMetadata: directory.ClientMetadata{
		Name: strings.TrimSpace(form["name"]), RedirectURIs: lines(form["redirects"]), AuthMethod: form["method"],
		GrantTypes: []string{"authorization_code", "refresh_token"},
	}}
	v, err := c.users.CreateClient(e.Request().Context(), in)
	if err != nil {
		if msg, ok := c.refused(e, err, "client"); ok {
			return c.showClients(e, http.StatusBadRequest, msg, form)
		}
		return c.fail(e, err)
	}
	return c.showSecret(e, v, c.tr(e, "The client was created."))
}

// showSecret shows a client's new secret, once: it is stored hashed.
func (c *Console) showSecret(e echo.Context, v management.ClientView, msg string) error {
	return c.render(e, http.StatusOK, "client_secret.html", map[string]any{
		"Title": v.ClientID, "Nav": "clients", "Client": v, "Notice": msg,
	})
}

func (c *Console) clientPage(e echo.Context) error {
	return c.showClient(e, http.StatusOK, "")
}

func (c *Console) showClient(e echo.Context, status int, msg string) error {
	v, err := c.users.Client(e.Request().Context(), e.Param("id"))
	if err != nil || v.ClientID == ClientID {
		if m, ok := c.refused(e, err, "client"); ok || err == nil {
			if err == nil {
				m = c.tr(e, "The console's own client is managed by the node.")
			}
			return c.message(e, http.StatusNotFound, m)
		}
		return c.fail(e, err)
	}
	return c.render(e, status, "client.html", map[string]any{
		"Title": v.ClientID, "Nav": "clients", "Client": v, "Redirects": strings.Join(v.RedirectURIs, "\n"),
		"Notice": c.notice(e), "Error": msg,
	})
}

// clientAction: POST /admin/console/clients/{id}/{edit,rotate-secret,delete}.
func (c *Console) clientAction(e echo.Context) error {
	ctx := e.Request().Context()
	id := e.Param("id")
	if id == ClientID {
		return c.errorPage(e, http.StatusForbidden, "The console's own client is managed by the node.")
	}
	back := Base + "/clients/" + url.PathEscape(id)
	var err error
	switch e.Param("action") {
	case "edit":
		name, _ := json.Marshal(strings.TrimSpace(e.FormValue("client_name")))
		uris, _ := json.Marshal(lines(e.FormValue("redirect_uris")))
		if _, err = c.users.UpdateClient(ctx, id, map[string]json.RawMessage{"client_name": name, "redirect_uris": uris}); err == nil {
			return done(e, back, "client-updated")
		}
	case "rotate-secret":
		var v management.ClientView
		if v, err = c.users.RotateClientSecret(ctx, id); err == nil {
			return c.showSecret(e, v, c.tr(e, "The client has a new secret; the old one no longer works."))
		}
	case "delete":
		if e.FormValue("confirm") != "yes" {
			return c.confirm(e, back+"/delete", c.tr(e, "Delete the client %s? Its tokens stop working.", id), c.tr(e, "Delete client"), back, nil)
		}
		if err = c.users.DeleteClient(ctx, id); err == nil {
			return done(e, Base+"/clients", "client-deleted")
		}
	default:
		return echo.ErrNotFound
	}
	if msg, ok := c.refused(e, err, "client"); ok {
		return c.showClient(e, http.StatusBadRequest, msg)
	}
	return c.fail(e, err)
}

// --- keys

// keyGroup is one algorithm's timeline: next, active, retiring, and the
// rest (revoked, removed), in that order.
type keyGroup struct {
	Alg  string
	Keys []management.KeyView
}

var statusOrder = []string{"next", "active", "retiring", "retired", "revoked", "removed"}

func groupKeys(v management.KeysView) []keyGroup {
	var out []keyGroup
	for _, k := range v.Keys {
		i := slices.IndexFunc(out, func(g keyGroup) bool { return g.Alg == k.Alg })
		if i < 0 {
			out = append(out, keyGroup{Alg: k.Alg})
			i = len(out) - 1
		}
		out[i].Keys = append(out[i].Keys, k)
	}
	rank := func(s string) int {
		if i := slices.Index(statusOrder, s); i >= 0 {
			return i
		}
		return len(statusOrder)
	}
	for _, g := range out {
		slices.SortStableFunc(g.Keys, func(a, b management.KeyView) int { return rank(a.Status) - rank(b.Status) })
	}
	slices.SortFunc(out, func(a, b keyGroup) int { return strings.Compare(a.Alg, b.Alg) })
	return out
}

func (c *Console) keysPage(e echo.Context) error {
	return c.showKeys(e, http.StatusOK, "")
}

func (c *Console) showKeys(e echo.Context, status int, msg string) error {
	v, err := c.admin.Keys(e.Request().Context())
	if err != nil {
		return c.fail(e, err)
	}
	return c.render(e, status, "keys.html", map[string]any{
		"Title": c.tr(e, "Signing keys"), "Nav": "keys", "Groups": groupKeys(v), "Notice": c.notice(e), "Error": msg,
	})
}

func (c *Console) rotateKeys(e echo.Context) error {
	if _, err := c.admin.RotateKeys(e.Request().Context(), e.FormValue("alg")); err != nil {
		if msg, ok := c.refused(e, err, "key"); ok {
			return c.showKeys(e, http.StatusBadRequest, msg)
		}
		return c.fail(e, err)
	}
	return done(e, Base+"/keys", "keys-rotated")
}

// revokeKey asks for a reason, then for a confirmation, then revokes.
func (c *Console) revokeKey(e echo.Context) error {
	kid, reason := e.Param("kid"), strings.TrimSpace(e.FormValue("reason"))
	action := Base + "/keys/" + url.PathEscape(kid) + "/revoke"
	if reason == "" || len(reason) > management.MaxRevokeReason {
		msg := ""
		if e.FormValue("reason") != "" || e.FormValue("asked") == "yes" {
			msg = c.tr(e, "Give a reason of at most 500 characters.")
		}
		return c.render(e, http.StatusOK, "revoke.html", map[string]any{
			"Title": c.tr(e, "Revoke key %s", kid), "Nav": "keys", "Action": action, "Kid": kid, "Error": msg, "Reason": reason,
		})
	}
	if e.FormValue("confirm") != "yes" {
		return c.confirm(e, action, c.tr(e, "Revoke the key %s now? Tokens it signed stop being accepted.", kid), c.tr(e, "Revoke key"), Base+"/keys",
			map[string]string{"reason": reason})
	}
	if _, err := c.admin.RevokeKey(e.Request().Context(), kid, reason); err != nil {
		if msg, ok := c.refused(e, err, "key"); ok {
			return c.showKeys(e, http.StatusBadRequest, msg)
		}
		return c.fail(e, err)
	}
	return done(e, Base+"/keys", "key-revoked")
}

// --- cluster and audit

func (c *Console) clusterPage(e echo.Context) error {
	data := map[string]any{"Title": c.tr(e, "Cluster"), "Nav": "cluster"}
	if ops := c.admin.Cluster(); ops != nil {
		st, err := ops.Status(e)
		if err != nil {
			data["Error"] = c.tr(e, "The cluster status cannot be read right now.")
		} else {
			// The node's status as its JSON fields, for the template.
			var m map[string]any
			b, _ := json.Marshal(st)
			_ = json.Unmarshal(b, &m)
			data["Status"] = m
		}
	}
	return c.render(e, http.StatusOK, "cluster.html", data)
}

// auditPageSize is how many events a page of the console's audit log
// shows.
const auditPageSize = 100

func (c *Console) auditPage(e echo.Context) error {
	q := e.QueryParams()
	data := map[string]any{"Title": c.tr(e, "Audit log"), "Nav": "audit",
		"Type": q.Get("type"), "Sub": q.Get("sub"), "ClientID": q.Get("client_id"), "Since": q.Get("since"), "Until": q.Get("until")}
	if l := c.admin.AuditLog(); l != nil {
		// The admin API's own reading of a query: the latest 100 that
		// match (before the cursor of the page's "older events" link).
		q.Del("after")
		q.Set("limit", strconv.Itoa(auditPageSize))
		f, err := management.AuditFilter(q)
		if err != nil {
			data["Error"] = c.tr(e, "The filter was refused: %s.", err.Error())
			return c.render(e, http.StatusOK, "audit.html", data)
		}
		f.Latest = true // a time window's newest first too
		evs, _, err := l.QueryAudit(e.Request().Context(), f)
		if err != nil {
			return c.fail(e, err)
		}
		slices.Reverse(evs) // the latest first
		data["Events"] = evs
		if len(evs) == auditPageSize {
			older := url.Values{"before": {evs[len(evs)-1].ID}}
			for _, k := range []string{"type", "sub", "client_id", "since", "until"} {
				if v := q.Get(k); v != "" {
					older.Set(k, v)
				}
			}
			data["Older"] = Base + "/audit?" + older.Encode()
		}
	}
	return c.render(e, http.StatusOK, "audit.html", data)
}
