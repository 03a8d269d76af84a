package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options select the exporters.
type Options struct {
	// NodeName labels the service instance in traces.
	NodeName string
	// OTLPEndpoint exports spans over OTLP/HTTP when set.
	OTLPEndpoint string
	Insecure     bool
	SampleRatio  float64
	// TracerProvider overrides the exporter choice (tests pass one with
	// an in-memory recorder).
	TracerProvider trace.TracerProvider
}

// Telemetry holds the node's metrics and tracer.
type Telemetry struct {
	Registry *prometheus.Registry
	Tracer   trace.Tracer
	shutdown func(context.Context) error

	HTTPRequests *prometheus.CounterVec
	HTTPErrors   *prometheus.CounterVec
	HTTPDuration *prometheus.HistogramVec

	ActorMessages     *prometheus.CounterVec
	ActorDuration     *prometheus.HistogramVec
	ActorMailbox      *prometheus.GaugeVec
	ActorActivations  *prometheus.CounterVec
	ActorPassivations *prometheus.CounterVec

	StoreDuration *prometheus.HistogramVec
	RateLimited   *prometheus.CounterVec
	// TLSReloads counts reloads of a listener's certificate files by
	// outcome (ok, refused: the previous pair stays).
	TLSReloads *prometheus.CounterVec
	// Deliveries counts outbox delivery attempts by message kind and
	// outcome (sent, retried, given_up).
	Deliveries *prometheus.CounterVec
	// DeliveryLatency is the time from a message's creation to its
	// successful delivery, by kind.
	DeliveryLatency *prometheus.HistogramVec
}

// Propagator carries trace context in HTTP headers and actor messages.
var Propagator = propagation.TraceContext{}

// latency buckets from 50 µs to 2.5 s: the endpoints live between.
var buckets = prometheus.ExponentialBuckets(0.00005, 2.5, 13)

// New builds the registry, the metrics and the tracer.
func New(opts Options) (*Telemetry, error) {
	t := &Telemetry{Registry: prometheus.NewRegistry(), shutdown: func(context.Context) error { return nil }}
	f := func(c prometheus.Collector) { t.Registry.MustRegister(c) }
	t.HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authrim_http_requests_total",
		Help: "HTTP requests by front end, route, method and status."}, []string{"front", "route", "method", "status"})
	t.HTTPErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authrim_http_errors_total",
		Help: "Error answers by front end, route and OAuth error code."}, []string{"front", "route", "error"})
	t.HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "authrim_http_request_duration_seconds",
		Help: "HTTP request latency by front end and route.", Buckets: buckets}, []string{"front", "route"})
	t.ActorMessages = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authrim_actor_messages_total",
		Help: "Messages processed by actor kind and message type."}, []string{"kind", "message"})
	t.ActorDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "authrim_actor_message_duration_seconds",
		Help: "Message processing time by actor kind.", Buckets: buckets}, []string{"kind"})
	t.ActorMailbox = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "authrim_actor_mailbox_length",
		Help: "Messages waiting in mailboxes, by actor kind."}, []string{"kind"})
	t.ActorActivations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authrim_actor_activations_total",
		Help: "Actor activations (grains loaded) by kind."}, []string{"kind"})
	t.ActorPassivations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authrim_actor_passivations_total",
		Help: "Actor passivations (grains unloaded) by kind."}, []string{"kind"})
	t.StoreDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "authrim_store_operation_duration_seconds",
		Help: "Store operation latency by operation and bucket.", Buckets: buckets}, []string{"op", "bucket"})
	t.RateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authrim_rate_limit_rejections_total",
		Help: "Requests refused by the rate limiter, by profile."}, []string{"profile"})
	t.TLSReloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authrim_tls_reloads_total",
		Help: "Reloads of a listener's certificate and key files, by listener and result (ok, refused)."}, []string{"listener", "result"})
	t.Deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authrim_deliveries_total",
		Help: "Outbox delivery attempts by kind (backchannel_logout, ...) and outcome (sent, retried, given_up)."}, []string{"kind", "outcome"})
	t.DeliveryLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "authrim_delivery_latency_seconds",
		Help:    "Time from an outbox message's creation to its delivery, by kind.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 12)}, []string{"kind"})
	for _, c := range []prometheus.Collector{t.Deliveries, t.DeliveryLatency, t.TLSReloads, t.HTTPRequests, t.HTTPErrors, t.HTTPDuration, t.ActorMessages, t.ActorDuration,
		t.ActorMailbox, t.ActorActivations, t.ActorPassivations, t.StoreDuration, t.RateLimited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}

	switch {
	case opts.TracerProvider != nil:
		t.Tracer = opts.TracerProvider.Tracer("authrim")
	case opts.OTLPEndpoint != "":
		eo := []otlptracehttp.Option{otlptracehttp.WithEndpoint(opts.OTLPEndpoint)}
		if opts.Insecure {
			eo = append(eo, otlptracehttp.WithInsecure())
		}
		exp, err := otlptracehttp.New(context.Background(), eo...)
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp exporter: %w", err)
		}
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(exp),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(opts.SampleRatio))),
			sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("authrim"), semconv.ServiceInstanceID(opts.NodeName))),
		)
		t.Tracer = tp.Tracer("authrim")
		t.shutdown = tp.Shutdown
	default:
		// No exporter: spans cost nothing.
		t.Tracer = noop.NewTracerProvider().Tracer("authrim")
	}
	return t, nil
}

// Handler serves the registry in the Prometheus text format.
func (t *Telemetry) Handler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{Registry: t.Registry})
}

// Shutdown flushes the span exporter.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return t.shutdown(ctx)
}

// StoreSize reports the size of the store on disk (the bbolt file).
func (t *Telemetry) StoreSize(size func() float64) {
	t.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "authrim_store_size_bytes", Help: "Size of the store on disk.",
	}, size))
}
