package memo

import (
	"errors"
	"fmt"
	"testing"
)

func TestBoundedMemo(t *testing.T) {
	m := New[int](3)
	calls := 0
	get := func(k string) (int, error) {
		return m.Get(k, func() (int, error) { calls++; return len(k), nil })
	}
	for range 3 {
		if v, err := get("abcd"); v != 4 || err != nil {
			t.Fatalf("got %d %v", v, err)
		}
	}
	if calls != 1 {
		t.Fatalf("made %d times, want once", calls)
	}
	// Errors are not kept: the next Get makes again.
	boom := errors.New("boom")
	for range 2 {
		if _, err := m.Get("bad", func() (int, error) { calls++; return 0, boom }); err != boom {
			t.Fatal(err)
		}
	}
	if calls != 3 {
		t.Fatalf("made %d times, want 3", calls)
	}
	// Never more than max entries.
	for i := range 10 {
		if _, err := get(fmt.Sprint("key", i)); err != nil {
			t.Fatal(err)
		}
		if m.Len() > 3 {
			t.Fatalf("%d entries, max 3", m.Len())
		}
	}
}
