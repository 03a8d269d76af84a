package node

import (
	"time"

	"authrim/http/dpop"
)

// dpopChecker checks DPoP proofs (dpop config): jtis recorded in the
// store, so a proof is used once across the cluster, and server nonces
// keyed from the KEK, so any node accepts another's.
func (n *Node) dpopChecker(now func() time.Time) *dpop.Checker {
	c := &dpop.Checker{
		Lifetime: n.cfg.DPoP.ProofLifetime.D(), JTIs: n.dir, Now: now,
	}
	if n.cfg.DPoP.RequireNonce {
		c.Nonces = &dpop.Nonces{Key: n.kek.DPoPNonceKey(), Period: n.cfg.DPoP.NoncePeriod.D(), Now: now}
	}
	return c
}
