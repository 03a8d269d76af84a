package management

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"authrim/directory"
	"authrim/http/oauth2"
)

// The operations below are what the admin API's handlers do once they
// have decoded a request: change, audit, and the consequences (sessions
// ended, mail sent). The handlers and the admin console (http/console)
// both call them, so a change made in either is checked, audited and
// followed up by the same code. The audit lines name the actor the
// caller put in ctx (audit.WithActor).

// AdminRoles grants and revokes the console's admin role.
type AdminRoles interface {
	SetUserAdmin(ctx context.Context, ref string, admin bool) (directory.User, error)
}

// Problem is the admin API's answer to err from an operation on a "user",
// "client", key or webhook: its status and a description safe to show (nil for a
// server error, whose cause is only logged).
func Problem(err error, what string) *oauth2.Error {
	if p := directoryProblem(err, what); p != nil {
		return p
	}
	if p := webhookProblem(err); p != nil {
		return p
	}
	// Grain and store errors the admin API answers with a 4xx (an
	// unknown kid, a bad algorithm): the same answer.
	if p := oauth2.From(err); p.Status < http.StatusInternalServerError {
		if p.Description == "" {
			p = p.WithDescription(p.Code)
		}
		return p
	}
	return nil
}

// directoryProblem maps the directory's errors (and ready answers).
func directoryProblem(err error, what string) *oauth2.Error {
	var inv *directory.InvalidError
	var oe *oauth2.Error
	switch {
	case errors.As(err, &inv):
		return oauth2.ErrInvalidRequest.WithDescription(inv.Reason)
	case errors.Is(err, directory.ErrUsernameTaken):
		return oauth2.ErrConflict.WithDescription("username is taken")
	case errors.Is(err, directory.ErrClientIDTaken):
		return oauth2.ErrConflict.WithDescription("client_id is taken")
	case errors.Is(err, directory.ErrNotFound):
		return oauth2.ErrNotFound.WithDescription("no such " + what)
	case errors.As(err, &oe):
		return oe
	}
	return nil
}

// Users lists every user.
func (d *DirectoryAdmin) Users(ctx context.Context) ([]directory.User, error) {
	return d.users.ListUsers(ctx)
}

// User finds a user by subject or username.
func (d *DirectoryAdmin) User(ctx context.Context, ref string) (directory.User, error) {
	return d.users.FindUser(ctx, ref)
}

// CreateUser creates a user, audits it and mails a verification link
// when the node sends mail.
func (d *DirectoryAdmin) CreateUser(ctx context.Context, in NewUserRequest) (directory.User, error) {
	u, err := d.users.CreateUser(ctx, directory.NewUser{Username: in.Username, Password: in.Password, Claims: in.Claims})
	if err != nil {
		return directory.User{}, err
	}
	d.logger.InfoContext(ctx, "admin: user created", "audit", true, "sub", u.Subject, "username", u.Username)
	d.verifyNew(ctx, u)
	return u, nil
}

// DeleteUser deletes a user and ends their sessions.
func (d *DirectoryAdmin) DeleteUser(ctx context.Context, ref string) error {
	// The subject, for ending the sessions once the user is gone (ref
	// may be a username).
	var sub string
	if u, err := d.users.FindUser(ctx, ref); err == nil {
		sub = u.Subject
	}
	if err := d.users.DeleteUser(ctx, ref); err != nil {
		return err
	}
	d.logger.InfoContext(ctx, "admin: user deleted", "audit", true, "ref", ref, "sub", sub)
	d.endUserSessions(ctx, sub, reasonDeleted)
	return nil
}

// SetDisabled disables a user (ending their sessions now) or enables
// them. Disabling takes effect at once on every node: each use of a
// session, code or token reads the user record (docs/ARCHITECTURE.md).
func (d *DirectoryAdmin) SetDisabled(ctx context.Context, ref string, disabled bool) (directory.User, error) {
	u, err := d.users.SetUserDisabled(ctx, ref, disabled)
	if err != nil {
		return directory.User{}, err
	}
	msg := "admin: user enabled"
	if disabled {
		msg = "admin: user disabled"
	}
	d.logger.InfoContext(ctx, msg, "audit", true, "sub", u.Subject, "username", u.Username)
	if disabled {
		// After the disable: a sign-in racing with it is refused by its
		// grain, which reads the user record.
		d.endUserSessions(ctx, u.Subject, reasonDisabled)
	}
	return u, nil
}

// SetAdmin grants or revokes the user's admin role (the console's).
func (d *DirectoryAdmin) SetAdmin(ctx context.Context, ref string, admin bool) (directory.User, error) {
	roles, ok := d.users.(AdminRoles)
	if !ok {
		return directory.User{}, oauth2.ErrNotFound.WithDescription("admin roles are not kept here")
	}
	u, err := roles.SetUserAdmin(ctx, ref, admin)
	if err != nil {
		return directory.User{}, err
	}
	msg := "admin: admin role revoked"
	if admin {
		msg = "admin: admin role granted"
	}
	d.logger.InfoContext(ctx, msg, "audit", true, "sub", u.Subject, "username", u.Username)
	return u, nil
}

// ResetMFA removes the user's authenticator app and recovery codes; had
// says whether there were any.
func (d *DirectoryAdmin) ResetMFA(ctx context.Context, ref string) (had bool, err error) {
	m, ok := d.users.(MFAAdmin)
	if !ok {
		return false, oauth2.ErrNotFound.WithDescription("second factors are not kept here")
	}
	u, err := d.users.FindUser(ctx, ref)
	if err != nil {
		return false, err
	}
	if had, err = m.ResetMFA(ctx, u.Subject); err != nil {
		return false, err
	}
	d.logger.InfoContext(ctx, "admin: second factors reset", "audit", true, "sub", u.Subject, "had_any", had)
	return had, nil
}

// EndSessions ends every session of the user.
func (d *DirectoryAdmin) EndSessions(ctx context.Context, ref string) ([]string, error) {
	if d.sessions == nil {
		return nil, oauth2.ErrNotFound.WithDescription("sessions are not listed here")
	}
	u, err := d.users.FindUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	ended, err := d.sessions.EndAll(ctx, u.Subject, "", reasonRevoked)
	d.logger.InfoContext(ctx, "admin: sessions revoked", "audit", true, "sub", u.Subject, "ended", len(ended))
	if err != nil {
		d.logger.ErrorContext(ctx, "admin: ending sessions failed", "sub", u.Subject, "err", err)
		return ended, oauth2.ErrTemporarilyUnavail.WithDescription("some sessions cannot be ended right now; retry")
	}
	return ended, nil
}

// Clients lists every client as the admin API shows it.
func (d *DirectoryAdmin) Clients(ctx context.Context) ([]ClientView, error) {
	list, err := d.clients.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ClientView, 0, len(list))
	for _, cl := range list {
		out = append(out, clientView(cl))
	}
	return out, nil
}

// CreateClient registers a client; the view carries a generated secret,
// once.
func (d *DirectoryAdmin) CreateClient(ctx context.Context, in NewClientRequest) (ClientView, error) {
	cl, secret, err := d.clients.CreateClient(ctx, directory.NewClient{
		ID: in.ClientID, Secret: in.ClientSecret, ClientMetadata: in.ClientMetadata,
	})
	if err != nil {
		return ClientView{}, err
	}
	d.logger.InfoContext(ctx, "admin: client created", "audit", true, "client_id", cl.ID, "auth_method", cl.AuthMethod)
	return withSecret(clientView(cl), secret), nil
}

// UpdateClient changes the metadata patch names (a JSON merge patch's top
// level: null resets a field to its default), checked by the rules of a
// new client; the view carries a secret the change issued.
func (d *DirectoryAdmin) UpdateClient(ctx context.Context, id string, patch map[string]json.RawMessage) (ClientView, error) {
	ed, ok := d.clients.(ClientEditor)
	if !ok {
		return ClientView{}, oauth2.ErrNotFound.WithDescription("clients cannot be edited here")
	}
	if err := checkClientPatch(patch); err != nil {
		return ClientView{}, err
	}
	cl, secret, err := ed.UpdateClient(ctx, id, func(cur directory.NewClient) (directory.NewClient, error) {
		return applyClientPatch(cur, patch)
	})
	if err != nil {
		return ClientView{}, err
	}
	d.logger.InfoContext(ctx, "admin: client updated", "audit", true, "client_id", cl.ID,
		"auth_method", cl.AuthMethod, "fields", strings.Join(sortedNames(patch), ","), "new_secret", secret != "")
	return withSecret(clientView(cl), secret), nil
}

// Client finds a client.
func (d *DirectoryAdmin) Client(ctx context.Context, id string) (ClientView, error) {
	cl, err := d.clients.Client(ctx, id)
	if err != nil {
		return ClientView{}, err
	}
	return clientView(cl), nil
}

// DeleteClient deletes a registered client.
func (d *DirectoryAdmin) DeleteClient(ctx context.Context, id string) error {
	if err := d.clients.DeleteClient(ctx, id); err != nil {
		return err
	}
	d.logger.InfoContext(ctx, "admin: client deleted", "audit", true, "client_id", id)
	return nil
}

// RotateClientSecret gives the client a new generated secret, in the
// answer only.
func (d *DirectoryAdmin) RotateClientSecret(ctx context.Context, id string) (ClientView, error) {
	ed, ok := d.clients.(ClientEditor)
	if !ok {
		return ClientView{}, oauth2.ErrNotFound.WithDescription("clients cannot be edited here")
	}
	cl, secret, err := ed.RotateClientSecret(ctx, id)
	if err != nil {
		return ClientView{}, err
	}
	d.logger.InfoContext(ctx, "admin: client secret rotated", "audit", true, "client_id", cl.ID)
	return withSecret(clientView(cl), secret), nil
}

// Directory is the user and client half (nil without WithDirectory).
func (a *Admin) Directory() *DirectoryAdmin { return a.directory }

// Cluster is the node set's operations (nil without WithCluster).
func (a *Admin) Cluster() ClusterOps { return a.cluster }

// AuditLog is the audit log's query (nil without WithAudit).
func (a *Admin) AuditLog() AuditLog { return a.audit }

// Keys lists the signing and encryption keys.
func (a *Admin) Keys(ctx context.Context) (KeysView, error) {
	set, err := a.keys.List(ctx)
	if err != nil {
		return KeysView{}, err
	}
	return viewOf(set), nil
}

// RotateKeys rotates the keys of alg (every algorithm when empty).
func (a *Admin) RotateKeys(ctx context.Context, alg string) (KeysView, error) {
	set, err := a.keys.Rotate(ctx, alg)
	if err != nil {
		return KeysView{}, err
	}
	a.logger.InfoContext(ctx, "admin: keys rotated", "audit", true, "alg", alg)
	return viewOf(set), nil
}

// MaxRevokeReason bounds a revocation's reason (it is stored on the key).
const MaxRevokeReason = 500

// RevokeKey revokes a key at once; a reason is required.
func (a *Admin) RevokeKey(ctx context.Context, kid, reason string) (KeysView, error) {
	if strings.TrimSpace(reason) == "" {
		return KeysView{}, oauth2.ErrInvalidRequest.WithDescription("reason is required")
	}
	if len(reason) > MaxRevokeReason {
		return KeysView{}, oauth2.ErrInvalidRequest.WithDescription("reason is longer than 500 characters")
	}
	set, err := a.keys.Revoke(ctx, kid, reason)
	if err != nil {
		return KeysView{}, err
	}
	a.logger.WarnContext(ctx, "admin: key revoked", "audit", true, "kid", kid, "reason", reason)
	return viewOf(set), nil
}
