package main

import (
	"context"
	"errors"
	"io"
)

// clusterCmd: cluster operations (certs, status).
func clusterCmd(ctx context.Context, args []string, stdout io.Writer) error {
	return errors.New("cluster: not available yet")
}
