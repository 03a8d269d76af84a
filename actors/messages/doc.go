// Package messages holds the protobuf messages actors exchange (generated
// from *.proto by `make generate`; the generated code is committed) and the
// small hand-written helpers that turn an Error field into a Go error.
//
// Every message that may cross nodes must be a protobuf message: protoactor
// serialises nothing else, and a plain struct fails only remotely.
package messages
