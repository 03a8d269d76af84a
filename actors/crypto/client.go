package crypto

import (
	"context"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"authrim/actors/messages"
)

// Requester sends a message to a node-local actor and waits for the
// answer (cluster.Node does, with the context's deadline and trace).
type Requester interface {
	RequestLocal(ctx context.Context, pid *actor.PID, msg any) (any, error)
}

// Client reaches the Crypto pool for the operations on other parties'
// keys (the typed client in package cluster covers our own keys).
type Client struct {
	Requester Requester
	Pool      *actor.PID
}

// VerifyWithKeys checks a compact JWS against the signer's JWK set (JSON)
// in a Crypto actor; see the function of the same name.
func (c Client) VerifyWithKeys(ctx context.Context, token string, jwks []byte, algs []string) (payload []byte, kid, alg string, err error) {
	res, err := c.Requester.RequestLocal(ctx, c.Pool, &messages.VerifyWithKeysRequest{Token: token, Jwks: jwks, Algs: algs})
	if err != nil {
		return nil, "", "", err
	}
	r, ok := res.(*messages.VerifyResponse)
	if !ok {
		return nil, "", "", fmt.Errorf("%w: unexpected reply %T", messages.ErrInternal, res)
	}
	if err := r.Error.Err(); err != nil {
		return nil, "", "", err
	}
	return r.Payload, r.Kid, r.Alg, nil
}
