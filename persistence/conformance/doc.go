// Package conformance is the test suite every persistence.Backend must
// pass. It exists so that the single-node engine (persistence/bbolt) and
// later clustered ones behave the same for the typed stores and actors
// built on top: the same errors, the same atomicity, the same copies.
//
// A backend's own tests call RunTests with a function that opens the
// backend on a directory. The suite only uses the persistence.Backend
// interface; it must not import a backend, know its file layout or depend
// on its timing, and every check in it must be able to fail (see the
// mutant backends in conformance_test.go, which prove that).
//
// It is a test helper: nothing outside _test.go files should import it.
package conformance
