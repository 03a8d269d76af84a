package demo

import (
	"sync"
	"testing"
	"time"
)

// The in-memory records stay bounded however many sign-ins are started
// (each /demo/login adds one), a state is used once, and an expired one
// is not used at all.
func TestRecordsBoundedOnceAndExpiring(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r := newRecords[int](time.Minute, clock)
	first, err := r.put(0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3*maxRecords; i++ {
		if _, err := r.put(i); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(r.m); n > maxRecords {
		t.Fatalf("%d records kept, at most %d allowed", n, maxRecords)
	}
	if _, ok := r.get(first); ok {
		t.Error("the oldest record survived a flood")
	}

	id, _ := r.put(42)
	if v, ok := r.take(id); !ok || v != 42 {
		t.Fatalf("take: %v %v", v, ok)
	}
	if _, ok := r.take(id); ok {
		t.Fatal("a record was taken twice")
	}
	id, _ = r.put(7)
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if _, ok := r.get(id); ok {
		t.Fatal("an expired record is returned")
	}
	if _, ok := r.take(id); ok {
		t.Fatal("an expired record is taken")
	}
}
