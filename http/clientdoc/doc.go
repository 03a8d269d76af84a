// Package clientdoc resolves client_ids that are https URLs of OAuth
// client ID metadata documents (draft-ietf-oauth-client-id-metadata-document):
// it fetches the document through the node's guarded fetcher (http/fetch:
// no private addresses unless allowed, no redirects, a size and a time
// limit), checks it with directory.ParseClientDocument, and caches the
// client as the document's Cache-Control allows, within a floor and a
// ceiling; failures are remembered for a short time so a bad client_id
// cannot make the node fetch on every request.
//
// It implements directory.ClientResolver, so every endpoint that looks a
// client up (directory.Client) sees the same client. It must not store
// anything: a resolved client lives in memory only, on each node.
package clientdoc
