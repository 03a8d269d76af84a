// Package node assembles one Authrim node from a typed Config: it opens the
// store, starts the actor system (a protoactor cluster, one member when run
// alone), spawns the KeyManager grain kind and the node-local Crypto pool,
// and serves the HTTP front ends the node's roles name.
//
// Only package config reads config files; this package takes a Config value
// and never reads the environment.
package node
