package etcd_test

import (
	"fmt"
	"slices"
	"testing"

	"authrim/persistence"
	"authrim/persistence/etcd"
)

// The export reads every page at the first page's revision: writes made
// while it runs (after its first page) are not in it, so a backup is one
// consistent cut of the store.
func TestExportIsOneRevision(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer etcd.SetExportPageSize(2)()
	ctx := t.Context()
	var want []string
	for i := range 6 {
		k := fmt.Sprintf("u%d", i)
		if err := s.Put(ctx, persistence.BucketUsers, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
		want = append(want, "users/"+k)
	}
	if err := s.Put(ctx, persistence.BucketMeta, persistence.KeySchemaVersion, []byte("1")); err != nil {
		t.Fatal(err)
	}
	want = append([]string{"meta/" + persistence.KeySchemaVersion}, want...)
	var got []string
	rev, err := s.Export(ctx, func(b persistence.Bucket, k string, _ []byte) error {
		if len(got) == 0 {
			// After the first page was read, later in key order.
			if err := s.Put(ctx, persistence.BucketUsers, "u9", []byte("late")); err != nil {
				return err
			}
			if err := s.Delete(ctx, persistence.BucketUsers, "u4"); err != nil {
				return err
			}
		}
		got = append(got, string(b)+"/"+k)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("export at revision %d saw writes made after it:\n%v\nwant\n%v", rev, got, want)
	}
}
