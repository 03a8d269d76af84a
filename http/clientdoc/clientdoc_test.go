package clientdoc

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"authrim/directory"
	"authrim/http/fetch"
)

const id = "https://app.example/client.json"

// countingFetcher answers every fetch with its document and counts them.
type countingFetcher struct {
	n   int
	doc fetch.Document
	err error
}

func (f *countingFetcher) GetDocument(context.Context, string, string, int64) (fetch.Document, error) {
	f.n++
	return f.doc, f.err
}

func doc(cacheControl string) fetch.Document {
	h := http.Header{"Content-Type": {"application/json"}}
	if cacheControl != "" {
		h.Set("Cache-Control", cacheControl)
	}
	return fetch.Document{Header: h, Body: []byte(`{"client_id":"` + id + `","redirect_uris":["https://app.example/cb"]}`)}
}

// TestCacheBounds: max-age is honoured within min_cache and max_cache,
// no max-age is min_cache, no-store and no-cache keep nothing.
func TestCacheBounds(t *testing.T) {
	for _, tc := range []struct {
		name, cc string
		want     time.Duration
	}{
		{"within", "public, max-age=600", 10 * time.Minute},
		{"below the floor", "max-age=5", time.Minute},
		{"above the ceiling", "max-age=999999999", 2 * time.Hour},
		{"none", "", time.Minute},
		{"no-store", "max-age=600, no-store", 0},
		{"no-cache", "no-cache", 0},
		{"bad max-age", "max-age=soon", time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Config{MinCache: time.Minute, MaxCache: 2 * time.Hour}, nil, nil)
			if got := r.cacheFor(doc(tc.cc).Header); got != tc.want {
				t.Fatalf("cacheFor(%q) = %v, want %v", tc.cc, got, tc.want)
			}
		})
	}
}

// TestResolveCaches: a fresh answer is reused until it expires; a
// failure is remembered for FailureCache and wraps ErrClientDocument.
func TestResolveCaches(t *testing.T) {
	now := time.Unix(1e9, 0)
	clock := func() time.Time { return now }
	f := &countingFetcher{doc: doc("max-age=300")}
	r := New(Config{Now: clock, FailureCache: 10 * time.Second}, f, nil)
	ctx := context.Background()
	for range 3 {
		if _, err := r.ResolveClient(ctx, id, directory.Rules{}); err != nil {
			t.Fatal(err)
		}
	}
	if f.n != 1 {
		t.Fatalf("fetched %d times within max-age", f.n)
	}
	now = now.Add(301 * time.Second)
	f.err = fetch.ErrTooLarge
	if _, err := r.ResolveClient(ctx, id, directory.Rules{}); !errors.Is(err, directory.ErrClientDocument) || !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("failure: %v", err)
	}
	r.ResolveClient(ctx, id, directory.Rules{})
	if f.n != 2 {
		t.Fatalf("a failure was fetched again within failure_cache (%d fetches)", f.n)
	}
	now = now.Add(11 * time.Second)
	f.err = nil
	if _, err := r.ResolveClient(ctx, id, directory.Rules{}); err != nil || f.n != 3 {
		t.Fatalf("after failure_cache: %v, %d fetches", err, f.n)
	}
}

// gatedFetcher blocks every fetch until gate is closed, and counts them.
type gatedFetcher struct {
	mu      sync.Mutex
	n       int
	gate    chan struct{}
	entered chan struct{}
}

func (f *gatedFetcher) GetDocument(context.Context, string, string, int64) (fetch.Document, error) {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
	f.entered <- struct{}{}
	<-f.gate
	return doc("no-store"), nil
}

// TestConcurrentFirstUsesFetchOnce: callers that ask while the document
// is being fetched wait for that fetch (even of a no-store document)
// rather than fetching it again.
func TestConcurrentFirstUsesFetchOnce(t *testing.T) {
	const callers = 8
	f := &gatedFetcher{gate: make(chan struct{}), entered: make(chan struct{}, callers)}
	r := New(Config{}, f, nil)
	waiting := make(chan struct{}, callers)
	r.onWait = func() { waiting <- struct{}{} }
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			_, err := r.ResolveClient(context.Background(), id, directory.Rules{})
			errs <- err
		})
	}
	// One caller fetches and the others wait for it (or, were they not
	// to wait, every caller fetches); then the fetches end.
	for entered, waits := 0, 0; entered+waits < callers; {
		select {
		case <-f.entered:
			entered++
		case <-waiting:
			waits++
		}
	}
	close(f.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if f.n != 1 {
		t.Fatalf("%d fetches for %d concurrent callers", f.n, callers)
	}
}

// TestRefusalsBeforeFetchNotCached: ids refused without a fetch (bad
// URL, host not allowed) are not remembered, so made-up ids cannot fill
// (and so flush) the cache.
func TestRefusalsBeforeFetchNotCached(t *testing.T) {
	f := &countingFetcher{doc: doc("")}
	r := New(Config{Hosts: []string{"app.example"}}, f, nil)
	for _, bad := range []string{"http://app.example/c", "https://other.example/c"} {
		if _, err := r.ResolveClient(context.Background(), bad, directory.Rules{}); !errors.Is(err, directory.ErrClientDocument) {
			t.Fatalf("%s: %v", bad, err)
		}
	}
	if len(r.cache) != 0 || f.n != 0 {
		t.Fatalf("%d cache entries, %d fetches", len(r.cache), f.n)
	}
}
