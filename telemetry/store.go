package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"authrim/persistence"
)

// Store wraps a backend so each operation is timed and, within a trace,
// becomes a span. It changes no result.
func (t *Telemetry) Store(b persistence.Backend) persistence.Backend { return &store{b: b, t: t} }

type store struct {
	b persistence.Backend
	t *Telemetry
}

var _ persistence.Backend = (*store)(nil)

func (s *store) observe(ctx context.Context, op string, bucket persistence.Bucket, f func(context.Context) error) error {
	start := time.Now()
	var span trace.Span
	if trace.SpanContextFromContext(ctx).IsValid() {
		ctx, span = s.t.Tracer.Start(ctx, "store "+op, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("db.collection.name", string(bucket))))
	}
	err := f(ctx)
	s.t.StoreDuration.WithLabelValues(op, string(bucket)).Observe(time.Since(start).Seconds())
	if span != nil {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
	return err
}

func (s *store) Get(ctx context.Context, bucket persistence.Bucket, key string) (v []byte, err error) {
	err = s.observe(ctx, "get", bucket, func(ctx context.Context) error { v, err = s.b.Get(ctx, bucket, key); return err })
	return v, err
}

func (s *store) Create(ctx context.Context, bucket persistence.Bucket, key string, value []byte) error {
	return s.observe(ctx, "create", bucket, func(ctx context.Context) error { return s.b.Create(ctx, bucket, key, value) })
}

func (s *store) Put(ctx context.Context, bucket persistence.Bucket, key string, value []byte) error {
	return s.observe(ctx, "put", bucket, func(ctx context.Context) error { return s.b.Put(ctx, bucket, key, value) })
}

func (s *store) Delete(ctx context.Context, bucket persistence.Bucket, key string) error {
	return s.observe(ctx, "delete", bucket, func(ctx context.Context) error { return s.b.Delete(ctx, bucket, key) })
}

func (s *store) Update(ctx context.Context, bucket persistence.Bucket, key string, fn func(old []byte, exists bool) ([]byte, error)) error {
	return s.observe(ctx, "update", bucket, func(ctx context.Context) error { return s.b.Update(ctx, bucket, key, fn) })
}

func (s *store) List(ctx context.Context, bucket persistence.Bucket, prefix string, fn func(key string, value []byte) error) error {
	return s.observe(ctx, "list", bucket, func(ctx context.Context) error { return s.b.List(ctx, bucket, prefix, fn) })
}

func (s *store) Ping(ctx context.Context) error { return s.b.Ping(ctx) }
func (s *store) Close() error                   { return s.b.Close() }
