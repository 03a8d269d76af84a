package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"authrim/actors/device"
	"authrim/actors/messages"
	"authrim/cluster"
	"authrim/persistence"
)

// devices is the Device grains' client with the user code index, for
// the token endpoint and the verification page.
type devices struct {
	cluster.Devices
	store persistence.Backend
	now   func() time.Time
}

func (d devices) Reserve(ctx context.Context, id string, expires time.Time) (string, error) {
	return device.Reserve(ctx, d.store, id, expires)
}

// Lookup answers an unknown or expired user code with messages.ErrNotFound.
func (d devices) Lookup(ctx context.Context, code string) (string, error) {
	id, err := device.Lookup(ctx, d.store, code, d.now())
	if errors.Is(err, persistence.ErrNotFound) {
		return "", fmt.Errorf("%w: unknown user code", messages.ErrNotFound)
	}
	return id, err
}

func (n *Node) devices() devices {
	return devices{Devices: n.actors.Devices(), store: n.store, now: n.now}
}
