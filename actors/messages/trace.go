package messages

// Traced is a message that carries the caller's W3C trace context, so one
// trace follows a request across actor hops and nodes.
type Traced interface {
	GetTrace() map[string]string
	SetTrace(map[string]string)
}

// SetTrace sets the trace carrier.
func (m *SessionCall) SetTrace(t map[string]string) { m.Trace = t }

// SetTrace sets the trace carrier.
func (m *ListKeys) SetTrace(t map[string]string) { m.Trace = t }

// SetTrace sets the trace carrier.
func (m *RotateKeys) SetTrace(t map[string]string) { m.Trace = t }

// SetTrace sets the trace carrier.
func (m *RevokeKey) SetTrace(t map[string]string) { m.Trace = t }

// SetTrace sets the trace carrier.
func (m *SignRequest) SetTrace(t map[string]string) { m.Trace = t }

// SetTrace sets the trace carrier.
func (m *VerifyRequest) SetTrace(t map[string]string) { m.Trace = t }

// SetTrace sets the trace carrier.
func (m *EncryptRequest) SetTrace(t map[string]string) { m.Trace = t }

// SetTrace sets the trace carrier.
func (m *DecryptRequest) SetTrace(t map[string]string) { m.Trace = t }

// SetTrace sets the trace carrier.
func (m *DeviceCall) SetTrace(t map[string]string) { m.Trace = t }
