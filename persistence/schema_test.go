package persistence_test

import (
	"errors"
	"regexp"
	"testing"

	"authrim/persistence"
)

// The declarations in schema.go are what backends enforce and bbolt
// creates, so they must be complete and unambiguous: one entry per name,
// every column filled, and names that are safe as bbolt bucket names and
// as etcd key segments (no separator, no NUL, lower case only, so no two
// names differ by case alone).
func TestSchemaDeclarations(t *testing.T) {
	name := regexp.MustCompile(`^[a-z][a-z_]*$`)
	seen := map[persistence.Bucket]bool{}
	for _, spec := range persistence.Buckets() {
		t.Run(string(spec.Name), func(t *testing.T) {
			if !name.MatchString(string(spec.Name)) {
				t.Errorf("bucket name %q is not [a-z][a-z_]*", spec.Name)
			}
			if seen[spec.Name] {
				t.Errorf("bucket %q is declared twice", spec.Name)
			}
			seen[spec.Name] = true
			if spec.Owner == "" || spec.Key == "" || spec.Value == "" || spec.Meaning == "" {
				t.Errorf("bucket %q: owner, key, value and meaning must all be set: %+v", spec.Name, spec)
			}
			if !spec.Name.Declared() || spec.Name.Check() != nil {
				t.Errorf("declared bucket %q is refused: %v", spec.Name, spec.Name.Check())
			}
		})
	}
	// Every bucket the project's packages name is among them (their
	// constants are typed persistence.Bucket, declared in schema.go).
	for _, b := range []persistence.Bucket{
		persistence.BucketMeta, persistence.BucketKeys, persistence.BucketSessions,
		persistence.BucketUsers, persistence.BucketUsernames, persistence.BucketClients,
		persistence.BucketJTIs, persistence.BucketPasskeys, persistence.BucketPasskeyIDs,
		persistence.BucketPushed, persistence.BucketRegistrationTokens, persistence.BucketUserSessions,
		persistence.BucketOutbox,
	} {
		if !seen[b] {
			t.Errorf("bucket constant %q has no entry in schema", b)
		}
	}
	if v := persistence.SchemaVersion(); v < 1 {
		t.Errorf("SchemaVersion() = %d, want >= 1", v)
	}
}

func TestUndeclaredBucketIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bucket persistence.Bucket
	}{
		{"unknown", "codes"},
		{"empty", ""},
		{"case variant", "Sessions"},
		{"prefix of a declared name", "session"},
		{"declared name with a NUL", "users\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bucket.Declared() {
				t.Fatalf("%q counts as declared", tc.bucket)
			}
			if err := tc.bucket.Check(); !errors.Is(err, persistence.ErrUnknownBucket) {
				t.Errorf("Check(%q) = %v, want ErrUnknownBucket", tc.bucket, err)
			}
		})
	}
}

// Buckets hands out a copy: a caller cannot change what backends enforce.
func TestBucketsIsACopy(t *testing.T) {
	got := persistence.Buckets()
	got[0].Name = "hijacked"
	if persistence.Buckets()[0].Name == "hijacked" {
		t.Fatal("Buckets() returned the schema itself")
	}
	if persistence.Bucket("hijacked").Declared() {
		t.Fatal("changing the copy declared a bucket")
	}
}
