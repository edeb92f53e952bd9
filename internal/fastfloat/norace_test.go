//go:build !race

package fastfloat_test

const raceEnabled = false
