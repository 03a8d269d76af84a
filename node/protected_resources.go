package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"authrim/directory"
)

// protectedResourcesMaxAge is how old the resource list in the metadata
// documents may get. Resource servers are added on any node of a cluster
// while it runs, so the list is read again, in the background, when a
// request finds it older than this.
const protectedResourcesMaxAge = 2 * time.Second

// resourceList answers discovery's ProtectedResources hook (RFC 9728 §4)
// from memory: the first call reads the directory, later ones return
// what was read last and, when it has aged, start one refresh.
type resourceList struct {
	dir     *directory.Directory
	timeout time.Duration
	now     func() time.Time

	mu       sync.Mutex // serialises the first read
	ids      atomic.Pointer[[]string]
	readAt   atomic.Int64 // unix nanoseconds of the last successful read
	inflight atomic.Bool
}

func newResourceList(dir *directory.Directory) *resourceList {
	return &resourceList{dir: dir, timeout: 5 * time.Second, now: time.Now}
}

// IDs is the hook: identifiers sorted, nil when there are none or the
// first read failed (the documents then omit the member).
func (l *resourceList) IDs() []string {
	if p := l.ids.Load(); p != nil {
		if l.now().Sub(time.Unix(0, l.readAt.Load())) > protectedResourcesMaxAge && l.inflight.CompareAndSwap(false, true) {
			go func() {
				defer l.inflight.Store(false)
				l.read()
			}()
		}
		return *p
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.ids.Load(); p != nil {
		return *p
	}
	l.read()
	if p := l.ids.Load(); p != nil {
		return *p
	}
	return nil
}

// read lists the resource servers; on failure the last list stays (a
// store hiccup must not make the documents flap).
func (l *resourceList) read() {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	rs, err := l.dir.ListResources(ctx)
	if err != nil {
		return
	}
	ids := make([]string, 0, len(rs))
	for _, r := range rs {
		ids = append(ids, r.Identifier)
	}
	l.ids.Store(&ids)
	l.readAt.Store(l.now().UnixNano())
}
