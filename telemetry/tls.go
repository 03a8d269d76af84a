package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TLSCertificate reports when the certificate a listener serves expires
// (read at scrape time, so a reloaded certificate shows at once): alert
// on it well before renewal is due.
func (t *Telemetry) TLSCertificate(listener string, notAfter func() time.Time) {
	t.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "authrim_tls_certificate_not_after_timestamp_seconds",
		Help:        "When the certificate the listener serves expires (Unix time).",
		ConstLabels: prometheus.Labels{"listener": listener},
	}, func() float64 { return float64(notAfter().Unix()) }))
}
