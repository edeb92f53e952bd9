//go:build race

package fastfloat_test

// The race detector slows the random comparisons tenfold; they sample less.
const raceEnabled = true
