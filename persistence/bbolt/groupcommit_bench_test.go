package bbolt_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"authrim/persistence/bbolt"
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGroupCommitCPU is what a durable write costs in CPU (process
// user + system time per Put: fsync is mostly system time) for a given
// number of concurrent writers and group-commit window. ns/op is wall
// time per Put across all writers. A session record is ~500 bytes.
func BenchmarkGroupCommitCPU(b *testing.B) {
	value := bytes.Repeat([]byte("v"), 512)
	for _, writers := range []int{4, 16, 64} {
		for _, delay := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond} {
			b.Run(fmt.Sprintf("writers=%d/delay=%s", writers, delay), func(b *testing.B) {
				s, err := bbolt.Open(b.TempDir(), bbolt.Options{MaxBatchDelay: delay})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				ctx := context.Background()
				var next atomic.Int64
				b.SetParallelism((writers + 1) / 2) // GOMAXPROCS is 2 here
				b.ResetTimer()
				start := processCPU()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						// Keys spread like session ids (random), not appended.
						k := fmt.Sprintf("%016x", uint64(next.Add(1))*0x9e3779b97f4a7c15)
						if err := s.Put(ctx, "sessions", k, value); err != nil {
							b.Error(err)
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64((processCPU()-start).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}
