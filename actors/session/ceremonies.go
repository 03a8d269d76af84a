package session

// WebAuthn ceremonies: a challenge kept between the begin and finish
// requests of a passkey registration or sign-in, used once.

import (
	"slices"

	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
)

func (o *op) startCeremony(m *messages.StartCeremony) error {
	if err := o.browser(); err != nil {
		return err
	}
	if err := o.liveLogin(); err != nil {
		return err
	}
	c := m.Ceremony
	switch {
	case c == nil || c.Challenge == "":
		return errInvalid("ceremony without challenge")
	case c.Kind == "register" && o.st.Login == nil:
		return errNoLogin
	case c.Kind != "register" && c.Kind != "login":
		return errInvalid("unknown ceremony kind")
	}
	if len(o.st.Ceremonies) >= maxCeremonies {
		o.st.Ceremonies = o.st.Ceremonies[1:]
	}
	c = proto.Clone(c).(*messages.Ceremony)
	c.ExpiresMs = o.now.Add(o.g.cfg.CeremonyTTL).UnixMilli()
	o.st.Ceremonies = append(o.st.Ceremonies, c)
	o.changed = true
	o.reply.Login = o.st.Login
	return nil
}

func (o *op) takeCeremony(m *messages.TakeCeremony) error {
	if err := o.browser(); err != nil {
		return err
	}
	if m.Kind == "register" {
		// The passkey would be added for the login's user.
		if err := o.liveLogin(); err != nil {
			return err
		}
	}
	for i, c := range o.st.Ceremonies {
		if c.Kind == m.Kind && same([]byte(c.Challenge), []byte(m.Challenge)) {
			// One-time: gone whether or not the answer verifies.
			o.st.Ceremonies = slices.Delete(o.st.Ceremonies, i, i+1)
			o.changed = true
			o.reply.Ceremony, o.reply.Login = c, o.st.Login
			return nil
		}
	}
	return errInvalid("unknown, used or expired challenge")
}
