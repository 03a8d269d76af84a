package cluster

import (
	"context"
	"fmt"

	"authrim/actors/device"
	"authrim/actors/messages"
)

// Devices is the typed client of Device grains (RFC 8628).
type Devices struct{ node *Node }

// Devices returns the client of the Device grains.
func (n *Node) Devices() Devices { return Devices{node: n} }

func (d Devices) call(ctx context.Context, id string, call *messages.DeviceCall) (*messages.DeviceReply, error) {
	res, err := d.node.RequestGrain(ctx, device.Kind, id, call)
	if err != nil {
		return nil, err
	}
	r, ok := res.(*messages.DeviceReply)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected reply %T", messages.ErrInternal, res)
	}
	if err := r.Error.Err(); err != nil {
		return r, err
	}
	return r, nil
}

// Create stores a new device authorization under id.
func (d Devices) Create(ctx context.Context, id string, st *messages.DeviceState) error {
	_, err := d.call(ctx, id, &messages.DeviceCall{Op: &messages.DeviceCall_Create{Create: &messages.CreateDevice{State: st}}})
	return err
}

// Describe returns a device authorization that has not expired.
func (d Devices) Describe(ctx context.Context, id string) (*messages.DeviceState, error) {
	r, err := d.call(ctx, id, &messages.DeviceCall{Op: &messages.DeviceCall_Describe{Describe: &messages.DescribeDevice{}}})
	if err != nil {
		return nil, err
	}
	return r.State, nil
}

// Decide records the user's approval or denial, once; it returns the
// decided state.
func (d Devices) Decide(ctx context.Context, id string, m *messages.DecideDevice) (*messages.DeviceState, error) {
	r, err := d.call(ctx, id, &messages.DeviceCall{Op: &messages.DeviceCall_Decide{Decide: m}})
	if err != nil {
		return nil, err
	}
	return r.State, nil
}

// Poll is the device asking whether the user decided.
func (d Devices) Poll(ctx context.Context, id string, m *messages.PollDevice) (*messages.DeviceReply, error) {
	return d.call(ctx, id, &messages.DeviceCall{Op: &messages.DeviceCall_Poll{Poll: m}})
}
