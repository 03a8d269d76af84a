package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"authrim/persistence"
)

// Filter selects events. Zero fields select everything.
type Filter struct {
	// After is a cursor: only events after it (an Event.ID, or the Next
	// of a previous page).
	After string
	// Before is a cursor too: only events before it (an Event.ID: the
	// oldest of a page of the latest, for the page before it).
	Before string
	// Latest asks for the latest matches even when Since is set (a
	// window's newest events, not its first ones); After overrides it.
	Latest bool
	// Since and Until bound the events' times (Until exclusive).
	Since, Until time.Time
	// Type is an event type; with a trailing * a prefix of one
	// (second_factor_*).
	Type     string
	Subject  string
	ClientID string
	// Limit bounds the answer (DefaultLimit when 0, at most MaxLimit).
	Limit int
}

// Limits of one answer.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// MaxCursorLen bounds a cursor (a key is about 110 bytes).
const MaxCursorLen = 200

// Check validates f, for the admin API.
func (f Filter) Check() error {
	if f.Limit < 0 || f.Limit > MaxLimit {
		return fmt.Errorf("limit must be 1..%d", MaxLimit)
	}
	if len(f.After) > MaxCursorLen {
		return errors.New("after: not a cursor")
	}
	if len(f.Before) > MaxCursorLen {
		return errors.New("before: not a cursor")
	}
	for name, c := range map[string]string{"after": f.After, "before": f.Before} {
		if c == "" {
			continue
		}
		if _, err := time.Parse(keyTime, cursorTime(c)); err != nil {
			return errors.New(name + ": not a cursor")
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return errors.New("until must be after since")
	}
	if len(f.Type) > maxTypeLen+1 || len(f.Subject) > maxValueLen || len(f.ClientID) > maxValueLen {
		return errors.New("filter value too long")
	}
	return nil
}

func cursorTime(c string) string {
	if i := strings.IndexByte(c, '-'); i > 0 {
		return c[:i]
	}
	return c
}

func (f Filter) match(e *Event) bool {
	if f.Type != "" {
		if p, ok := strings.CutSuffix(f.Type, "*"); ok {
			if !strings.HasPrefix(e.Type, p) {
				return false
			}
		} else if e.Type != f.Type {
			return false
		}
	}
	if f.Subject != "" && e.Subject != f.Subject {
		return false
	}
	if f.ClientID != "" && e.ClientID != f.ClientID {
		return false
	}
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.Time.Before(f.Until) {
		return false
	}
	return true
}

var errEnough = errors.New("enough")

// Query returns events matching f in log order, and the cursor to ask
// for the next ones with (the last event's id, or f.After when there
// was none). With neither After nor Since (or with Latest) it returns
// the latest events (before Before, when set); otherwise the first ones
// from there. Days are read one List
// prefix at a time, back to oldest (the retention horizon).
func Query(ctx context.Context, store persistence.Backend, f Filter, now, oldest time.Time) ([]Event, string, error) {
	if err := f.Check(); err != nil {
		return nil, "", err
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	end := now.UTC()
	if !f.Until.IsZero() && f.Until.Before(end) {
		end = f.Until.UTC()
	}
	start := oldest.UTC()
	if !f.Since.IsZero() && f.Since.After(start) {
		start = f.Since.UTC()
	}
	if f.After != "" {
		if t, err := time.Parse(keyTime, cursorTime(f.After)); err == nil && t.After(start) {
			start = t
		}
	}
	if f.Before != "" {
		if t, err := time.Parse(keyTime, cursorTime(f.Before)); err == nil && t.Before(end) {
			end = t
		}
	}
	days := daysBetween(start, end)
	var out []Event
	read := func(day string, fn func(Event) bool) error {
		err := store.List(ctx, Bucket, day, func(key string, value []byte) error {
			if (f.After != "" && key <= f.After) || (f.Before != "" && key >= f.Before) {
				return nil
			}
			var e Event
			if err := json.Unmarshal(value, &e); err != nil {
				return nil // a damaged record is skipped, not fatal to the query
			}
			e.ID = key
			if f.match(&e) && !fn(e) {
				return errEnough
			}
			return nil
		})
		if errors.Is(err, errEnough) {
			return nil
		}
		return err
	}
	if f.After == "" && (f.Since.IsZero() || f.Latest) {
		// The latest: newest day first, keeping each day's last ones.
		for i := len(days) - 1; i >= 0 && len(out) < limit; i-- {
			var day []Event
			if err := read(days[i], func(e Event) bool { day = append(day, e); return true }); err != nil {
				return nil, "", err
			}
			if n := limit - len(out); len(day) > n {
				day = day[len(day)-n:]
			}
			out = append(day, out...)
		}
	} else {
		for _, d := range days {
			if len(out) >= limit {
				break
			}
			if err := read(d, func(e Event) bool { out = append(out, e); return len(out) < limit }); err != nil {
				return nil, "", err
			}
		}
	}
	next := f.After
	if len(out) > 0 {
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// daysBetween lists the day prefixes from start's day to end's day.
func daysBetween(start, end time.Time) []string {
	var days []string
	d := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
	for !d.After(end) && len(days) < 20000 {
		days = append(days, d.Format("20060102"))
		d = d.AddDate(0, 0, 1)
	}
	return days
}

// Prune deletes the events older than before and returns how many.
func Prune(ctx context.Context, store persistence.Backend, before time.Time) (int, error) {
	cutoff := before.UTC().Format(keyTime)
	total := 0
	for {
		var batch []string
		err := store.List(ctx, Bucket, "", func(key string, _ []byte) error {
			if key >= cutoff || len(batch) >= 500 {
				return errEnough
			}
			batch = append(batch, key)
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			return total, err
		}
		for _, k := range batch {
			if err := store.Delete(ctx, Bucket, k); err != nil && !errors.Is(err, persistence.ErrNotFound) {
				return total, err
			}
			total++
		}
		if len(batch) < 500 {
			return total, nil
		}
	}
}

// CursorAt is the cursor of the events from t on.
func CursorAt(t time.Time) string {
	return t.UTC().Add(-time.Nanosecond).Format(keyTime)
}
