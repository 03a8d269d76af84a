package freeport

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestPortsAreDistinctBindableAndOutsideTheEphemeralRange(t *testing.T) {
	Dir = t.TempDir()
	seen := map[int]bool{}
	for i := 0; i < 200; i++ {
		p, err := Get()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if p < lowest || p >= ephemeralLow() {
			t.Fatalf("port %d outside [%d, %d)", p, lowest, ephemeralLow())
		}
	}
}

func TestPortInUseIsSkipped(t *testing.T) {
	Dir = t.TempDir()
	busy, err := Get()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(busy))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Forget the reservation of the port in use and reserve every other
	// port of the band: only the bind check can refuse the busy one.
	if err := os.Remove(filepath.Join(Dir, strconv.Itoa(busy))); err != nil {
		t.Fatal(err)
	}
	for p := lowest; p < ephemeralLow(); p++ {
		if p != busy && !reserve(p) {
			t.Fatalf("reserve %d", p)
		}
	}
	if p, err := Get(); err == nil {
		t.Fatalf("got port %d although every port was reserved or in use", p)
	}
}
