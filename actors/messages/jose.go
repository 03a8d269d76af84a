package messages

// SetTrace sets the trace carrier.
func (m *VerifyWithKeysRequest) SetTrace(t map[string]string) { m.Trace = t }
