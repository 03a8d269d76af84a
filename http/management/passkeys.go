package management

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// PasskeyAdmin is what the passkey routes ask of the user directory
// (*directory.Directory satisfies it). Register mounts them when the
// UserAdmin given to NewDirectoryAdmin implements it too.
type PasskeyAdmin interface {
	// FindUser takes a subject or a username.
	FindUser(ctx context.Context, ref string) (directory.User, error)
	Passkeys(ctx context.Context, subject string) ([]directory.Passkey, error)
	DeletePasskey(ctx context.Context, subject string, id []byte) error
}

// PasskeyView is a passkey as the admin API shows it: metadata only, not
// the public key or the attestation.
type PasskeyView struct {
	// ID is the credential ID, base64url without padding.
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	// BackupEligible and BackupState are the authenticator's BE and BS
	// flags (WebAuthn §6.1): a synced passkey is eligible and backed up.
	BackupEligible bool `json:"backup_eligible"`
	BackupState    bool `json:"backup_state"`
	UserVerified   bool `json:"user_verified"`
	// AAGUID names the authenticator model, as a UUID; omitted when the
	// authenticator gave none.
	AAGUID        string     `json:"aaguid,omitempty"`
	SignCount     uint32     `json:"sign_count"`
	Transports    []string   `json:"transports,omitempty"`
	Flagged       bool       `json:"flagged"`
	FlaggedReason string     `json:"flagged_reason,omitempty"`
	FlaggedAt     *time.Time `json:"flagged_at,omitempty"`
}

// PasskeysView is the body of GET /admin/users/:id/passkeys.
type PasskeysView struct {
	Passkeys []PasskeyView `json:"passkeys"`
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// aaguidString formats a 16-byte AAGUID as a UUID (the form the FIDO
// metadata service uses), anything else as hex.
func aaguidString(b []byte) string {
	if len(b) != 16 {
		return hex.EncodeToString(b)
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func passkeyView(p directory.Passkey) PasskeyView {
	c := p.Credential
	v := PasskeyView{
		ID:             directory.PasskeyKey(p.ID),
		Name:           p.Name,
		Created:        p.Created.UTC(),
		LastUsed:       optionalTime(p.LastUsed),
		BackupEligible: c.Flags.BackupEligible,
		BackupState:    c.Flags.BackupState,
		UserVerified:   c.Flags.UserVerified,
		AAGUID:         aaguidString(c.Authenticator.AAGUID),
		SignCount:      c.Authenticator.SignCount,
		Flagged:        p.Flagged,
		FlaggedReason:  p.FlaggedReason,
		FlaggedAt:      optionalTime(p.FlaggedAt),
	}
	for _, t := range c.Transport {
		v.Transports = append(v.Transports, string(t))
	}
	return v
}

// passkeyRoutes are the passkey routes (behind the bearer token, like
// every admin route).
func (d *DirectoryAdmin) passkeyRoutes(pk PasskeyAdmin) []router.Route {
	h := &passkeyHandlers{dir: pk, d: d}
	return []router.Route{
		{Method: http.MethodGet, Path: "/admin/users/:id/passkeys", Handler: h.list},
		{Method: http.MethodDelete, Path: "/admin/users/:id/passkeys/:cid", Handler: h.delete},
	}
}

type passkeyHandlers struct {
	dir PasskeyAdmin
	d   *DirectoryAdmin
}

func (h *passkeyHandlers) list(c echo.Context) error {
	ref, err := pathParam(c, "id")
	if err != nil {
		return oauth2.Write(c, h.d.logger, err)
	}
	ctx := c.Request().Context()
	u, err := h.dir.FindUser(ctx, ref)
	if err != nil {
		return h.d.fail(c, err, "user")
	}
	pks, err := h.dir.Passkeys(ctx, u.Subject)
	if err != nil {
		return h.d.fail(c, err, "user")
	}
	v := PasskeysView{Passkeys: make([]PasskeyView, 0, len(pks))}
	for _, p := range pks {
		v.Passkeys = append(v.Passkeys, passkeyView(p))
	}
	return c.JSON(http.StatusOK, v)
}

// parseCredentialID decodes a credential ID from the path: base64url,
// padding tolerated.
func parseCredentialID(s string) ([]byte, error) {
	id, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(id) == 0 || len(id) > directory.MaxCredentialIDLen {
		return nil, oauth2.ErrInvalidRequest.WithDescription("passkey id must be a credential ID in base64url, as listed by GET /admin/users/{id}/passkeys")
	}
	return id, nil
}

func (h *passkeyHandlers) delete(c echo.Context) error {
	ref, err := pathParam(c, "id")
	if err != nil {
		return oauth2.Write(c, h.d.logger, err)
	}
	cid, err := pathParam(c, "cid")
	if err != nil {
		return oauth2.Write(c, h.d.logger, err)
	}
	id, err := parseCredentialID(cid)
	if err != nil {
		return oauth2.Write(c, h.d.logger, err)
	}
	ctx := c.Request().Context()
	u, err := h.dir.FindUser(ctx, ref)
	if err != nil {
		return h.d.fail(c, err, "user")
	}
	if err := h.d.deletePasskey(ctx, h.dir, u.Subject, id); err != nil {
		return h.d.fail(c, err, "passkey")
	}
	return c.NoContent(http.StatusNoContent)
}

func (d *DirectoryAdmin) deletePasskey(ctx context.Context, pk PasskeyAdmin, sub string, id []byte) error {
	if err := pk.DeletePasskey(ctx, sub, id); err != nil {
		return err
	}
	d.logger.InfoContext(ctx, "admin: passkey deleted", "audit", true, "sub", sub, "passkey", directory.PasskeyKey(id))
	return nil
}

// DeletePasskeys removes every passkey of the user (a lost device):
// how many went.
func (d *DirectoryAdmin) DeletePasskeys(ctx context.Context, ref string) (int, error) {
	pk, ok := d.users.(PasskeyAdmin)
	if !ok {
		return 0, oauth2.ErrNotFound.WithDescription("passkeys are not kept here")
	}
	u, err := pk.FindUser(ctx, ref)
	if err != nil {
		return 0, err
	}
	list, err := pk.Passkeys(ctx, u.Subject)
	if err != nil {
		return 0, err
	}
	for i, p := range list {
		if err := d.deletePasskey(ctx, pk, u.Subject, p.ID); err != nil {
			return i, err
		}
	}
	return len(list), nil
}
