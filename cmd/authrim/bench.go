package main

import (
	"context"
	"errors"
	"io"
)

// benchCmd: the load benchmark.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("bench: not available yet")
}
