// Package cluster runs the node's actor system as a protoactor cluster
// member (a one-member cluster when the node runs alone, so grains behave
// the same alone and in a node set) and gives front ends typed clients for
// the actors: KeyManager and Crypto today.
//
// It is the one place where a context deadline becomes an actor request
// timeout. It must not hold protocol logic or touch storage.
package cluster
