package node

import (
	"context"
	"fmt"

	"authrim/persistence"
	"authrim/persistence/bbolt"
)

// openStore opens the configured storage backend. The node keeps the bbolt
// store typed too: the admin API snapshots it for backups.
func (n *Node) openStore(ctx context.Context) (persistence.Backend, error) {
	switch n.cfg.Storage.Backend {
	case BackendBbolt:
		store, err := bbolt.Open(n.cfg.Storage.Dir, bbolt.Options{})
		if err != nil {
			return nil, err
		}
		n.store, n.bolt = store, store
		return store, nil
	default:
		return nil, fmt.Errorf("node: storage backend %q is not available yet", n.cfg.Storage.Backend)
	}
}
