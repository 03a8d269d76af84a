// Package telemetry is the one place the node's instrumentation is
// defined: the Prometheus registry and its metrics (HTTP routes, actor
// kinds, store operations, keys, rate limits, Go runtime), the
// OpenTelemetry tracer, the actor middleware that turns each message into
// a span continuing the caller's trace (carried inside the message, so it
// crosses nodes), and the store decorator that times and traces every
// operation.
//
// It observes; it must not change what it observes (no retries, no
// rewriting of answers).
package telemetry
