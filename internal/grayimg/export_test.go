package grayimg

import "testing"

// Luminance is luminance, for the external tests to compare with.
var Luminance = luminance

// PNGSeeds returns a small PNG of every kind the table of png_test.go
// holds, as fuzzing seeds.
func PNGSeeds(t testing.TB) [][]byte {
	var files [][]byte
	for _, f := range pngTable() {
		if f.w == 7 {
			files = append(files, f.encode(t, 3))
		}
	}
	return files
}
