// Package router is the router front end: one echo server with the shared
// middleware (request id, panic recovery, body limit) and the health
// endpoints, onto which the node mounts the front ends its roles enable.
// It must not contain endpoint logic of its own.
package router
