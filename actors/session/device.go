package session

import (
	"authrim/actors/messages"
)

// approveDevice records the signed-in user's approval of a device
// authorization (RFC 8628 §3.3): a code like the ones issue makes, with
// the device code's secret hash as its hash, so the device's poll
// redeems it through redeem (single use, grant in this session, replay
// revokes the grant) and nothing of the grant logic is repeated here.
func (o *op) approveDevice(m *messages.ApproveDevice) error {
	if err := o.browser(); err != nil {
		return err
	}
	if err := o.liveLogin(); err != nil {
		return err
	}
	if o.st.Login == nil {
		return errNoLogin
	}
	if len(m.DeviceHash) != 32 || m.ClientId == "" || m.ExpiresMs <= o.ms() {
		return errInvalid("device approval without a usable device code")
	}
	for _, c := range o.st.Codes {
		if same(c.Hash, m.DeviceHash) {
			return errInvalid("device code already approved here")
		}
	}
	if len(o.st.Codes) >= maxCodes {
		o.st.Codes = o.st.Codes[1:]
	}
	o.st.Codes = append(o.st.Codes, &messages.Code{
		Hash:      m.DeviceHash,
		Request:   &messages.AuthRequest{ClientId: m.ClientId, Scopes: m.Scopes},
		Login:     o.st.Login,
		ExpiresMs: m.ExpiresMs,
	})
	o.changed = true
	o.reply.Login = o.st.Login
	return nil
}
