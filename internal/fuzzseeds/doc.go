// Package fuzzseeds holds only a test: every fuzz target in the
// repository has a committed seed corpus (testdata/fuzz/FuzzName/), so
// that go test runs each target on real inputs even without -fuzz, and a
// fuzzing session starts from inputs that reach deep into the parser.
package fuzzseeds
