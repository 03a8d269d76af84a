// Package fetch retrieves documents a client asks the OP to load: request
// objects by request_uri (RFC 9101 §5.2) and key sets by jwks_uri. Every
// such fetch is a request the OP makes on a stranger's behalf, so the
// Fetcher guards against server-side request forgery: https only, no
// private, loopback or link-local addresses (checked on the address
// actually dialled, so DNS tricks do not help) unless configured, no
// redirect to another host, a timeout and a size limit. Answers are cached
// as their Cache-Control allows.
//
// It must not decide which URIs a client may use: callers check the
// client's registration first.
package fetch
