package bbolt

// FileName is the name of the database file inside the directory given to
// Open. It is fixed so that backups and operators know what to look for.
const FileName = "authrim.db"

// Bucket names used by the project, declared in one place so that this file
// is the map of what authrim.db holds. Writes create buckets lazily, so a
// bucket missing from this list still works, but add it here when a new
// typed store starts using one: Open creates every bucket listed below, so
// a fresh file shows the whole layout (for example with `bbolt buckets`).
const (
	// BucketKeys holds the provider's signing keys.
	BucketKeys = "keys"
	// BucketUsers holds user records (JSON, keyed by subject); package
	// directory owns them.
	BucketUsers = "users"
	// BucketUsernames is the username uniqueness index: case-mapped
	// username -> subject.
	BucketUsernames = "usernames"
	// BucketClients holds registered (non-static) clients, keyed by
	// client_id.
	BucketClients = "clients"
	// BucketJTIs records used private_key_jwt assertion ids until they
	// expire (replay protection, RFC 7523 §3).
	BucketJTIs = "jtis"
	// BucketPasskeys holds each user's WebAuthn credentials (one JSON
	// list per user, keyed by subject); package directory owns them.
	BucketPasskeys = "passkeys"
	// BucketPasskeyIDs is the credential ID uniqueness index:
	// base64url(credential ID) -> subject.
	BucketPasskeyIDs = "passkey_ids"
	// BucketPushed holds pushed authorization requests (PAR) until they
	// are used or expire.
	BucketPushed = "pushed_requests"
	// BucketRegistrationTokens holds single-use initial access tokens
	// for dynamic client registration (hashed).
	BucketRegistrationTokens = "registration_tokens"
)

// knownBuckets is what Open creates. Keep it in sync with the constants
// above.
var knownBuckets = [...]string{
	BucketKeys,
	BucketUsers,
	BucketUsernames,
	BucketClients,
	BucketJTIs,
	BucketPasskeys,
	BucketPasskeyIDs,
	BucketPushed,
	BucketRegistrationTokens,
}
