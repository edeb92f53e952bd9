//go:build race

package engine_test

// raceEnabled: the race detector makes sync.Pool drop a share of what it
// is given, on purpose, so reuse through Release cannot be asserted.
const raceEnabled = true
