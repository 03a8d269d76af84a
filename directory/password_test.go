package directory

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestParsePHCBoundsStoredParameters(t *testing.T) {
	p := argonParams{time: 1, memory: 8 * 1024, threads: 1}
	good, err := hashPassword("password", p)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$") // "", argon2id, v=19, params, salt, hash
	with := func(i int, v string) string {
		q := append([]string(nil), parts...)
		q[i] = v
		return strings.Join(q, "$")
	}
	for _, tc := range []struct{ name, phc string }{
		{"empty", ""},
		{"argon2i", with(1, "argon2i")},
		{"version 16", with(2, "v=16")},
		{"memory of a terabyte", with(3, "m=1073741824,t=1,p=1")},
		{"a thousand passes", with(3, "m=8192,t=1000,p=1")},
		{"no lanes", with(3, "m=8192,t=1,p=0")},
		{"missing parameter", with(3, "m=8192,t=1")},
		{"unknown parameter", with(3, "m=8192,t=1,p=1,x=2")},
		{"salt not base64", with(4, "!!!")},
		{"short hash", with(5, "AAAA")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := verifyPassword(tc.phc, "password")
			if ok || !errors.Is(err, errMalformedHash) {
				t.Fatalf("got %v, %v; want errMalformedHash", ok, err)
			}
			if tc.phc != "" && strings.Contains(err.Error(), parts[5]) {
				t.Errorf("error %q quotes the hash", err)
			}
		})
	}
	if ok, err := verifyPassword(good, "password"); !ok || err != nil {
		t.Fatalf("good hash: %v, %v", ok, err)
	}
}

// Password hashes run at most one per core at a time, however many
// sign-ins arrive together: each holds its argon2id memory until done.
func TestConcurrentHashesAreBounded(t *testing.T) {
	p := argonParams{time: 1, memory: 8 * 1024, threads: 1}
	phc, err := hashPassword("correct horse battery", p)
	if err != nil {
		t.Fatal(err)
	}
	peakHashing.Store(0)
	var wg sync.WaitGroup
	for i := 0; i < 4*runtime.GOMAXPROCS(0)+4; i++ {
		wg.Go(func() {
			if ok, err := verifyPassword(phc, "correct horse battery"); !ok || err != nil {
				t.Errorf("verify: %v %v", ok, err)
			}
		})
	}
	wg.Wait()
	if got, limit := peakHashing.Load(), int32(runtime.GOMAXPROCS(0)); got > limit || got < 1 {
		t.Fatalf("%d hashes ran at once, limit %d", got, limit)
	}
}
