package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authrim/actors/messages"
)

// KeysCollector reports the key lifecycle from the node's key cache: the
// age of each published key, when each algorithm's next key takes over,
// and how many rotations each algorithm has had. It reads the set at
// scrape time, so it costs nothing between scrapes.
func (t *Telemetry) KeysCollector(set func() *messages.KeySet, now func() time.Time) {
	t.Registry.MustRegister(keysCollector{set: set, now: now})
}

var (
	keyAgeDesc = prometheus.NewDesc("authrim_key_age_seconds",
		"Age of each published key since it was created.", []string{"kid", "alg", "status"}, nil)
	nextRotationDesc = prometheus.NewDesc("authrim_key_next_rotation_timestamp_seconds",
		"When the next key of each algorithm becomes active (Unix time).", []string{"alg"}, nil)
	rotationsDesc = prometheus.NewDesc("authrim_key_rotations_total",
		"Keys of each algorithm that have been replaced as the active key.", []string{"alg"}, nil)
)

type keysCollector struct {
	set func() *messages.KeySet
	now func() time.Time
}

func (k keysCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keyAgeDesc
	ch <- nextRotationDesc
	ch <- rotationsDesc
}

func (k keysCollector) Collect(ch chan<- prometheus.Metric) {
	set := k.set()
	if set == nil {
		return
	}
	now := k.now()
	rotations := map[string]float64{}
	for _, key := range set.Keys {
		switch key.Status {
		case "next", "active", "retiring":
			age := now.Sub(time.UnixMilli(key.CreatedMs)).Seconds()
			ch <- prometheus.MustNewConstMetric(keyAgeDesc, prometheus.GaugeValue, age, key.Kid, key.Alg, key.Status)
		}
		if key.Status == "next" {
			ch <- prometheus.MustNewConstMetric(nextRotationDesc, prometheus.GaugeValue, float64(key.ActivateAtMs)/1000, key.Alg)
		}
		if key.RetiredMs > 0 {
			rotations[key.Alg]++
		}
		if _, ok := rotations[key.Alg]; !ok {
			rotations[key.Alg] = 0
		}
	}
	for alg, n := range rotations {
		ch <- prometheus.MustNewConstMetric(rotationsDesc, prometheus.CounterValue, n, alg)
	}
}
