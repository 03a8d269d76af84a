package persistence

import (
	"fmt"
	"slices"
)

// This file is the map of what the store holds: every bucket, with the
// package that owns its records, what a key and a value are, and the
// version of those shapes. Backends refuse a bucket that is not declared
// here (ErrUnknownBucket), bbolt creates exactly these buckets when it
// opens a file, and on etcd bucket B's records live under the key prefix
// "<root>/d/B\x00" (persistence/etcd; grain ownerships under "<root>/o/").
//
// Adding a bucket: declare its constant and its entry in schema below,
// and use the constant. Changing what a bucket's records look like (a
// renamed field, a new key form): append a migration to migrations, which
// moves existing stores to the new shapes when a node starts (migrate.go).

// Bucket is the name of a declared bucket.
type Bucket string

// The declared buckets.
const (
	// BucketMeta holds the store's own records: the schema version.
	BucketMeta Bucket = "meta"
	// BucketKeys holds the provider's keys, one KeySet per KeyManager.
	BucketKeys Bucket = "keys"
	// BucketSessions holds one SessionState per session.
	BucketSessions Bucket = "sessions"
	// BucketUsers holds user records.
	BucketUsers Bucket = "users"
	// BucketUsernames is the username uniqueness index.
	BucketUsernames Bucket = "usernames"
	// BucketClients holds registered (non-static) clients.
	BucketClients Bucket = "clients"
	// BucketJTIs holds used assertion, request object and DPoP proof ids.
	BucketJTIs Bucket = "jtis"
	// BucketPasskeys holds each user's WebAuthn credentials.
	BucketPasskeys Bucket = "passkeys"
	// BucketPasskeyIDs is the credential ID uniqueness index.
	BucketPasskeyIDs Bucket = "passkey_ids"
	// BucketPushed holds pushed authorization requests.
	BucketPushed Bucket = "pushed_requests"
	// BucketRegistrationTokens holds initial access tokens.
	BucketRegistrationTokens Bucket = "registration_tokens"
	// BucketUserSessions is the per-user index of sessions with a login.
	BucketUserSessions Bucket = "user_sessions"
	// BucketOutbox holds messages waiting for delivery.
	BucketOutbox Bucket = "outbox"
	// BucketResources holds registered (non-static) resource servers.
	BucketResources Bucket = "resources"
	// BucketDevices holds one DeviceState per device authorization.
	BucketDevices Bucket = "devices"
	// BucketDeviceUserCodes is the user code uniqueness index.
	BucketDeviceUserCodes Bucket = "device_user_codes"
	// BucketMFA holds each user's second factors (TOTP, recovery codes).
	BucketMFA Bucket = "mfa"
	// BucketActionTokens holds the links mailed to users (password
	// reset, email verification, invitations), by hash.
	BucketActionTokens Bucket = "action_tokens"
	// BucketAudit holds the audit log: one event per key, in order.
	BucketAudit Bucket = "audit"
	// BucketWebhooks holds webhook subscriptions.
	BucketWebhooks Bucket = "webhooks"
	// BucketWebhookDeliveries holds each subscription's recent attempts.
	BucketWebhookDeliveries Bucket = "webhook_deliveries"
	// BucketUpstreamLinks maps an upstream identity to its local user.
	BucketUpstreamLinks Bucket = "upstream_links"
	// BucketUserLinks is the per-user index of upstream links.
	BucketUserLinks Bucket = "user_upstream_links"
	// BucketConnectors holds connectors added through the admin API.
	BucketConnectors Bucket = "connectors"
)

// KeySchemaVersion is the key, in BucketMeta, of the schema version
// record: the decimal version of the shapes the stored records have.
const KeySchemaVersion = "schema_version"

// MigrationOwnership is the ownership (Owners) a node holds while it
// migrates, so that one node of a cluster migrates at a time.
const MigrationOwnership = "Schema/migration"

// BucketSpec describes a declared bucket.
type BucketSpec struct {
	Name Bucket
	// Owner is the package that writes and reads the records; nothing
	// else may depend on their encoding.
	Owner string
	// Key says what a key is.
	Key string
	// Value says how a value is encoded.
	Value string
	// Meaning says what a record stands for, in one line.
	Meaning string
}

// schema declares every bucket, in the order bbolt creates them.
var schema = [...]BucketSpec{
	{BucketMeta, "persistence", "record name (schema_version)", "decimal text",
		"the store's own records: the version of the shapes below"},
	{BucketKeys, "actors/keymanager", "KeyManager identity (default)", "protobuf messages.KeySet",
		"signing and encryption keys, private halves sealed under the KEK"},
	{BucketSessions, "actors/session", "session id (the ID token's sid)", "protobuf messages.SessionState",
		"a browser session: login, consents, pending requests, codes and grants"},
	{BucketUsers, "directory", "subject", "JSON directory user record",
		"a user: username, password hash, claims, disabled, sessions_not_before"},
	{BucketUsernames, "directory", "case-mapped username", "subject (text)",
		"username uniqueness index, claimed with Create"},
	{BucketClients, "directory", "client_id", "JSON directory client record",
		"a registered client (static clients come from config.yaml, not the store)"},
	{BucketJTIs, "directory", "client_id (request objects: request:client_id), a space, the jti; DPoP proofs: dpop:, a space, hex SHA-256 of jkt, a space and the jti", "JSON {exp}",
		"a used private_key_jwt assertion, request object or DPoP proof id, kept until it expires (RFC 7523 §3, RFC 9449 §11.1)"},
	{BucketPasskeys, "directory", "subject", "JSON list of the user's passkeys",
		"a user's WebAuthn credentials"},
	{BucketPasskeyIDs, "directory", "base64url credential ID", "subject (text)",
		"credential ID uniqueness index, claimed with Create"},
	{BucketPushed, "directory", "request_uri reference", "JSON {client_id, params, exp}",
		"a pushed authorization request (RFC 9126), taken once"},
	{BucketRegistrationTokens, "directory", "hash of the token", "JSON {exp}",
		"a single-use initial access token for dynamic registration (RFC 7591 §3)"},
	{BucketUserSessions, "actors/session", "subject, a NUL byte, the session id", "JSON session.IndexEntry",
		"a session the user signed in to (device, address, time, method); written by the grain with the login"},
	{BucketOutbox, "actors/delivery", "message id", "JSON delivery.Message",
		"a message to deliver (back-channel logout, ...), kept until delivered or given up"},
	{BucketResources, "directory", "resource identifier (an absolute URI, RFC 8707 §2)", "JSON directory resource record",
		"a resource server access tokens may be issued for (static ones come from config.yaml, not the store)"},
	{BucketDevices, "actors/device", "device authorization id (the device code's first part)", "protobuf messages.DeviceState",
		"a device authorization (RFC 8628) from request to redemption; swept after expiry"},
	{BucketDeviceUserCodes, "actors/device", "user code (normalised, no dash)", "JSON device.indexEntry",
		"which device authorization a user code names; created only if absent, so codes never collide"},
	{BucketMFA, "directory", "subject", "JSON directory MFA record",
		"a user's second factors: TOTP secret sealed under the KEK, last used step, recovery code MACs"},
	{BucketActionTokens, "directory", "hex SHA-256 of the token", "JSON directory action token record {purpose, sub, email, exp}",
		"a single-use link mailed to a user (reset_password, verify_email, invite), taken once; swept after expiry"},
	{BucketAudit, "audit", "time (UTC, ns), member, per-member sequence: sorts as one log", "JSON audit.Event",
		"a security event (an audit log line) kept for audit.retention; queried by time, type, user, client"},
	{BucketWebhooks, "webhooks", "subscription id", "JSON webhooks.Subscription",
		"where events of some types are sent: URL, types, signing secret sealed under the KEK, failures in a row"},
	{BucketWebhookDeliveries, "webhooks", "subscription id / time, message id, attempt", "JSON webhooks.Attempt",
		"one attempt to deliver an event to a subscription (the last 50 of each are kept)"},
	{BucketUpstreamLinks, "directory", "upstream issuer, a NUL byte, the upstream subject", "JSON directory.Link",
		"which local user an upstream identity (connector sign-in) signs in as; created only if absent"},
	{BucketUserLinks, "directory", "subject, a NUL byte, the link's key", "JSON directory.Link",
		"the per-user index of upstream links (listed and removed on /account)"},
	{BucketConnectors, "connectors/registry", "connector id", "JSON registry.Record",
		"a connector added through the admin API: its config without secrets, the client secret or LDAP bind password sealed under the KEK"},
}

// migrations moves stores to this binary's shapes: migrations[i] takes a
// store from version i+1 to i+2, so the current version is
// len(migrations)+1. Version 1 is the shapes the records had when the
// version record was introduced. Append only; never edit or reorder a
// released step (stores in the field already ran it). See Migration for
// what a step must guarantee.
var migrations = []Migration{}

// Buckets returns every declared bucket, in declaration order.
func Buckets() []BucketSpec { return slices.Clone(schema[:]) }

// SchemaVersion is the version of the shapes this binary reads and writes.
func SchemaVersion() int { return len(migrations) + 1 }

// Declared reports whether b is a declared bucket.
func (b Bucket) Declared() bool {
	for i := range schema {
		if schema[i].Name == b {
			return true
		}
	}
	return false
}

// Check returns nil for a declared bucket and an error wrapping
// ErrUnknownBucket for any other name. Backends call it on every
// operation, so a bucket used but not declared fails at once (in tests)
// instead of becoming a silent extra in the store.
func (b Bucket) Check() error {
	if b.Declared() {
		return nil
	}
	return fmt.Errorf("%w: %q (declare it in persistence/schema.go)", ErrUnknownBucket, string(b))
}
