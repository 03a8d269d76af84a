package crypto

import "github.com/asynkron/protoactor-go/actor"

// pinnedDispatcher runs mailbox drains on a fixed set of long-lived
// goroutines. protoactor's default starts a goroutine per drain, and a
// fresh 8 KB stack is grown again (copied) by every ES256 or RSA call;
// here the stacks stay grown. Drains queue in a buffered channel.
type pinnedDispatcher struct {
	work       chan func()
	throughput int
}

var _ actor.Dispatcher = (*pinnedDispatcher)(nil)

func newPinnedDispatcher(goroutines, throughput int) *pinnedDispatcher {
	d := &pinnedDispatcher{work: make(chan func(), 4096), throughput: throughput}
	for i := 0; i < goroutines; i++ {
		go func() {
			for fn := range d.work {
				fn()
			}
		}()
	}
	return d
}

// Schedule implements actor.Dispatcher.
func (d *pinnedDispatcher) Schedule(fn func()) { d.work <- fn }

// Throughput implements actor.Dispatcher: messages per drain before the
// goroutine moves on to another mailbox.
func (d *pinnedDispatcher) Throughput() int { return d.throughput }
