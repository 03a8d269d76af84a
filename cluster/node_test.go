package cluster

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pc "github.com/asynkron/protoactor-go/cluster"

	"authrim/actors/messages"
)

// unavailableKind is a grain kind whose grains always answer that they
// cannot serve here, so every call to them retries; asked counts them.
func unavailableKind(asked *atomic.Int64) *pc.Kind {
	return pc.NewKind("Unavailable", actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*messages.SessionCall); ok {
			asked.Add(1)
			ctx.Respond(&messages.GrainUnavailable{Reason: "moving"})
		}
	}))
}

// TestRequestGrainStopsWhenTheCallerGivesUp: the retry loop of a grain
// call ends when the caller's context does, with the context's error, not
// after the cluster's own request timeout; and a timeout is "unavailable"
// (the HTTP answer is 503, retry later), not an internal error.
func TestRequestGrainStopsWhenTheCallerGivesUp(t *testing.T) {
	var asked atomic.Int64
	n, err := Start(Config{Name: "request-test", Listen: "127.0.0.1:0", RequestTimeout: 10 * time.Second, Kinds: []*pc.Kind{unavailableKind(&asked)}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// A few retries in: the loop is running when the caller gives up.
		for asked.Load() < 3 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err = n.RequestGrain(ctx, "Unavailable", "x", &messages.SessionCall{})
	if !errors.Is(err, context.Canceled) || !errors.Is(err, messages.ErrUnavailable) {
		t.Fatalf("err = %v, want the caller's cancellation, as unavailable", err)
	}
}
