package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Call is one request of a load: it sends it on c and reports whether
// the answer was the expected one.
type Call func(ctx context.Context, c *http.Client) error

// Source hands out calls to the load's workers; it is used concurrently.
// ok is false when it has nothing left (one-time items used up): the
// window then ends early.
type Source interface {
	Next() (call Call, ok bool)
}

// Endless repeats a call made from a sequence number forever.
type Endless func(seq uint64) Call

type endless struct {
	f   Endless
	seq atomic.Uint64
}

func (e *endless) Next() (Call, bool) { return e.f(e.seq.Add(1)), true }

// Forever is a Source of calls built by f from 1, 2, 3, ...
func Forever(f Endless) Source { return &endless{f: f} }

// Once is a Source of calls used once each, in order.
type Once struct {
	calls []Call
	next  atomic.Int64
}

// NewOnce wraps prepared calls.
func NewOnce(calls []Call) *Once { return &Once{calls: calls} }

// Next returns the next unused call.
func (o *Once) Next() (Call, bool) {
	i := o.next.Add(1) - 1
	if i >= int64(len(o.calls)) {
		return nil, false
	}
	c := o.calls[i]
	o.calls[i] = nil
	return c, true
}

// Len is how many calls were prepared.
func (o *Once) Len() int { return len(o.calls) }

// Window is what one timed stretch of load did, from the client's side.
type Window struct {
	Requests int64
	Errors   int64
	Elapsed  time.Duration
	// Latencies of successful requests, sorted (nil when not recorded).
	Latencies []time.Duration
	// Exhausted: the source ran out before the duration was over.
	Exhausted bool
	// FirstError is the first failure, for the report.
	FirstError error
}

// Rate is requests per second.
func (w Window) Rate() float64 {
	if w.Elapsed <= 0 {
		return 0
	}
	return float64(w.Requests) / w.Elapsed.Seconds()
}

// Quantile of the recorded latencies (q in 0..1).
func (w Window) Quantile(q float64) time.Duration {
	if len(w.Latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(w.Latencies))+0.5) - 1
	i = max(0, min(i, len(w.Latencies)-1))
	return w.Latencies[i]
}

// ErrTooManyErrors stops a window in which most requests fail.
var ErrTooManyErrors = errors.New("loadtest: more than 1% of requests failed")

// Drive runs conc workers that take calls from src until d has passed or
// src is empty. With record set, every latency is kept.
func Drive(ctx context.Context, c *http.Client, src Source, conc int, d time.Duration, record bool) Window {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deadline := time.Now().Add(d)
	var (
		mu        sync.Mutex
		w         Window
		exhausted atomic.Bool
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range conc {
		wg.Add(1)
		// The label tells the load generator's samples from the server's
		// in a CPU profile of an in-process node (-tagignore loadtest=client).
		go pprof.Do(ctx, pprof.Labels("loadtest", "client"), func(ctx context.Context) {
			defer wg.Done()
			var lat []time.Duration
			var n, errs int64
			var first error
			for ctx.Err() == nil && time.Now().Before(deadline) {
				call, ok := src.Next()
				if !ok {
					exhausted.Store(true)
					break
				}
				t0 := time.Now()
				err := call(ctx, c)
				el := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				n++
				if record {
					lat = append(lat, el)
				}
			}
			mu.Lock()
			w.Requests += n
			w.Errors += errs
			w.Latencies = append(w.Latencies, lat...)
			if w.FirstError == nil {
				w.FirstError = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	w.Elapsed = time.Since(start)
	w.Exhausted = exhausted.Load()
	slices.Sort(w.Latencies)
	return w
}

// Parallel runs f(i) for i in [0, n) on conc goroutines and returns the
// first error (preparation: sign-ins, codes, ceremonies).
func Parallel(ctx context.Context, n, conc int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(conc, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = fmt.Errorf("item %d: %w", i, err); cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// NewClient is the load generator's HTTP client: keep-alive connections
// (one per worker), no redirects followed, no compression.
func NewClient(conc int) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        conc * 2,
		MaxIdleConnsPerHost: conc * 2,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
