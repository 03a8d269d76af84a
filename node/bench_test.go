package node_test

import (
	"authrim/internal/freeport"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"authrim/directory"
	"authrim/node"
)

// discard is a span exporter that drops what it gets: the cost measured
// is making and ending spans, not shipping them.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTokenEndpointInstrumentation measures what metrics, the access
// log and tracing cost on the token endpoint (client_credentials: client
// authentication plus one ES256 signature through the Crypto pool). The
// cpu-µs/req metric is process CPU (getrusage) per request, HTTP client
// included, so compare the three modes with each other.
func BenchmarkTokenEndpointInstrumentation(b *testing.B) {
	modes := []struct {
		name string
		opts node.Options
	}{
		{"off", node.Options{NoInstrumentation: true}},
		{"metrics+log", node.Options{}},
		{"metrics+log+tracing", node.Options{TracerProvider: sdktrace.NewTracerProvider(
			sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(discard{}))}},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			addr, err := freeport.Addr()
			if err != nil {
				b.Fatal(err)
			}
			dir := b.TempDir()
			cfg := node.Default()
			cfg.HTTP.Listen = addr
			cfg.Issuer = "http://localhost" + addr[strings.LastIndex(addr, ":"):]
			cfg.Storage.Dir = dir
			cfg.Keys.KEKFile = filepath.Join(dir, "kek")
			cfg.RateLimit.Enabled = false
			cfg.Log.Level = "error"
			cfg.Clients = []node.ClientConfig{{ID: "svc", Secret: rpSecret, ClientMetadata: directory.ClientMetadata{AuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"}}}}
			opts := m.opts
			opts.Logger = discardLogger()
			n, err := node.Start(context.Background(), cfg, opts)
			if err != nil {
				b.Fatal(err)
			}
			defer n.Shutdown(context.Background())
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
			do := func() {
				req, _ := http.NewRequest("POST", n.URL()+"/token", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("svc", rpSecret)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			for range 200 {
				do() // warm up
			}
			b.SetParallelism(2)
			start := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					do()
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/req")
		})
	}
}
