// Package management is the op-management front end. Today: the admin API
// for operators (keys), guarded by a bearer token compared in constant
// time. Every call is one message to an actor; this package holds no state
// and never sees private keys.
package management
