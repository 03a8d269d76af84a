package clientdoc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"authrim/directory"
	"authrim/http/fetch"
)

// Defaults of Config's zero fields.
const (
	// DefaultMaxBytes is the draft's suggested limit (§6.4: 5 kilobytes).
	DefaultMaxBytes     = 5 << 10
	DefaultMinCache     = time.Minute
	DefaultMaxCache     = 24 * time.Hour
	DefaultFailureCache = 30 * time.Second
	DefaultEntries      = 1024
)

// Config of a Resolver.
type Config struct {
	// Hosts, when not empty, are the only hosts whose documents are
	// fetched (directory.HostAllowed).
	Hosts []string
	// MaxBytes bounds a document.
	MaxBytes int64
	// MinCache and MaxCache bound how long a document is reused: its
	// Cache-Control max-age is raised to MinCache and cut to MaxCache; a
	// document without max-age is kept MinCache; no-store and no-cache
	// are honoured (fetched again at each use).
	MinCache, MaxCache time.Duration
	// FailureCache is how long a failure is remembered (answered without
	// fetching again).
	FailureCache time.Duration
	// Entries bounds the cache.
	Entries int
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// Fetcher is what the Resolver needs of http/fetch.
type Fetcher interface {
	GetDocument(ctx context.Context, rawURL, accept string, maxBytes int64) (fetch.Document, error)
}

// Resolver resolves client_id URLs. It is safe for concurrent use.
type Resolver struct {
	cfg    Config
	fetch  Fetcher
	logger *slog.Logger
	mu     sync.Mutex
	cache  map[string]entry
	// inflight are the fetches under way, by id: callers that find one
	// wait for its answer instead of fetching the same document again
	// (a burst of first requests costs the client's host one fetch).
	inflight map[string]*call
	// onWait, in tests, is told of each caller that waits for another's
	// fetch.
	onWait func()
}

type call struct {
	done   chan struct{}
	client directory.Client
	err    error
}

type entry struct {
	client  directory.Client
	err     error
	expires time.Time
}

var _ directory.ClientResolver = (*Resolver)(nil)

// New returns a Resolver fetching through f.
func New(cfg Config, f Fetcher, logger *slog.Logger) *Resolver {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MinCache <= 0 {
		cfg.MinCache = DefaultMinCache
	}
	if cfg.MaxCache <= 0 {
		cfg.MaxCache = DefaultMaxCache
	}
	cfg.MaxCache = max(cfg.MaxCache, cfg.MinCache)
	if cfg.FailureCache <= 0 {
		cfg.FailureCache = DefaultFailureCache
	}
	if cfg.Entries <= 0 {
		cfg.Entries = DefaultEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Resolver{cfg: cfg, fetch: f, logger: logger, cache: map[string]entry{}, inflight: map[string]*call{}}
}

// ResolveClient returns the client whose metadata document is at id, from
// the cache while it is fresh. A client that cannot be resolved is an
// error wrapping directory.ErrClientDocument (the endpoints answer as
// for an unknown client); the reason is logged and audited, never sent.
func (r *Resolver) ResolveClient(ctx context.Context, id string, rules directory.Rules) (directory.Client, error) {
	now := r.cfg.Now()
	r.mu.Lock()
	e, ok := r.cache[id]
	if ok && now.Before(e.expires) {
		r.mu.Unlock()
		return e.client, e.err
	}
	if cl, busy := r.inflight[id]; busy {
		r.mu.Unlock()
		if r.onWait != nil {
			r.onWait()
		}
		select {
		case <-cl.done:
			return cl.client, cl.err
		case <-ctx.Done():
			return directory.Client{}, ctx.Err()
		}
	}
	cl := &call{done: make(chan struct{})}
	r.inflight[id] = cl
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.inflight, id)
		r.mu.Unlock()
		close(cl.done)
	}()
	cl.client, cl.err = r.lookup(ctx, id, rules, now, ok)
	return cl.client, cl.err
}

// lookup fetches and checks id's document and caches the outcome; stale
// tells that the cache holds an expired entry for id.
func (r *Resolver) lookup(ctx context.Context, id string, rules directory.Rules, now time.Time, stale bool) (directory.Client, error) {
	// Callers may be waiting for this fetch: it is not cut short by this
	// caller leaving (the fetcher's own time limit bounds it).
	c, ttl, err := r.resolve(context.WithoutCancel(ctx), id, rules)
	if err != nil {
		r.logger.InfoContext(ctx, "client metadata document refused", "audit", true, "client_id", clip(id, 512), "reason", err.Error())
		var refused refusal
		if !errors.As(err, &refused) {
			// Remembered only when the host was asked: a refusal before
			// any fetch costs nothing to repeat, and caching those would
			// let anyone flush the cache with made-up ids.
			ttl = r.cfg.FailureCache
		}
		err = fmt.Errorf("%w: %s", directory.ErrClientDocument, err.Error())
	}
	if ttl > 0 {
		r.put(id, entry{client: c, err: err, expires: now.Add(ttl)}, now)
	} else if stale {
		r.mu.Lock()
		delete(r.cache, id)
		r.mu.Unlock()
	}
	return c, err
}

// resolve checks id, fetches its document and parses it; ttl is how long
// the client may be reused (0: not at all).
func (r *Resolver) resolve(ctx context.Context, id string, rules directory.Rules) (directory.Client, time.Duration, error) {
	if err := directory.CheckClientIDURL(id); err != nil {
		return directory.Client{}, 0, refusal(reasonOf(err))
	}
	if !directory.HostAllowed(id, r.cfg.Hosts) {
		return directory.Client{}, 0, refusal("host not allowed (client_metadata_documents.hosts)")
	}
	doc, err := r.fetch.GetDocument(ctx, id, "application/json", r.cfg.MaxBytes)
	if err != nil {
		r.logger.WarnContext(ctx, "client metadata document fetch failed", "client_id", id, "err", err)
		return directory.Client{}, 0, err
	}
	if ct := doc.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return directory.Client{}, 0, fmt.Errorf("content type %q is not application/json", clip(ct, 64))
	}
	c, err := directory.ParseClientDocument(id, doc.Body, rules)
	if err != nil {
		return directory.Client{}, 0, errors.New(reasonOf(err))
	}
	return c, r.cacheFor(doc.Header), nil
}

// refusal is a client_id refused before anything was fetched.
type refusal string

func (r refusal) Error() string { return string(r) }

// cacheFor applies the Cache-Control of a document (RFC 9111 §5.2.2)
// within the configured bounds: no-store and no-cache keep nothing,
// max-age is raised to MinCache and cut to MaxCache, no max-age keeps it
// MinCache (draft §6.4 lets the server bound the time).
func (r *Resolver) cacheFor(h http.Header) time.Duration {
	ttl := r.cfg.MinCache
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
				if err != nil || n < 0 {
					continue
				}
				ttl = time.Duration(min(n, int64(r.cfg.MaxCache/time.Second))) * time.Second
			}
		}
	}
	return min(max(ttl, r.cfg.MinCache), r.cfg.MaxCache)
}

func (r *Resolver) put(id string, e entry, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= r.cfg.Entries {
		for k, old := range r.cache {
			if !now.Before(old.expires) {
				delete(r.cache, k)
			}
		}
		if len(r.cache) >= r.cfg.Entries {
			clear(r.cache)
		}
	}
	r.cache[id] = e
}

// isJSON accepts application/json and application/*+json.
func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// reasonOf is the safe reason of a directory error.
func reasonOf(err error) string {
	var ie *directory.InvalidError
	if errors.As(err, &ie) {
		return ie.Reason
	}
	return err.Error()
}

// clip shortens s to n bytes for a log line.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
