package node

import (
	"authrim/directory"
	"authrim/http/clientdoc"
)

// clientResolver resolves client_ids that are URLs of client ID metadata
// documents through the node's guarded fetcher, when
// client_metadata_documents.enabled; nil (such ids are unknown clients)
// otherwise. Each node keeps its own cache: nothing is stored.
func (n *Node) clientResolver() directory.ClientResolver {
	cd := n.cfg.ClientDocuments
	if !cd.Enabled {
		return nil
	}
	return clientdoc.New(clientdoc.Config{
		Hosts: cd.Hosts, MaxBytes: int64(cd.MaxBytes), MinCache: cd.MinCache.D(), MaxCache: cd.MaxCache.D(),
		FailureCache: cd.FailureCache.D(), Now: n.now,
	}, n.fetcher, n.logger.With("component", "clientdoc"))
}
