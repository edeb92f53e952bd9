package engine

import (
	"fmt"
	"testing"

	"gonum.org/v1/gonum/dsp/fourier"
)

// BenchmarkFFT1D compares the engine's own transforms with gonum's on the
// lengths of 1024² and 4096² planes padded to 2-3-5 sizes.
func BenchmarkFFT1D(b *testing.B) {
	for _, n := range []int{1080, 4320} {
		x := make([]complex128, n)
		for i := range x {
			x[i] = complex(float64(i%7), float64(i%5))
		}
		re := make([]float64, n)
		for i := range re {
			re[i] = float64(i % 11)
		}
		spec := make([]complex128, n/2+1)
		b.Run(fmt.Sprintf("complex/n=%d/impl=engine", n), func(b *testing.B) {
			f := newCFFT[complex128](n)
			for b.Loop() {
				f.forward(x)
			}
		})
		b.Run(fmt.Sprintf("complex/n=%d/impl=gonum", n), func(b *testing.B) {
			f := fourier.NewCmplxFFT(n)
			for b.Loop() {
				f.Coefficients(x, x)
			}
		})
		b.Run(fmt.Sprintf("real/n=%d/impl=engine", n), func(b *testing.B) {
			f := newRFFT[complex128](n)
			for b.Loop() {
				f.coefficients(spec, re)
			}
		})
		b.Run(fmt.Sprintf("real/n=%d/impl=gonum", n), func(b *testing.B) {
			f := fourier.NewFFT(n)
			for b.Loop() {
				f.Coefficients(spec, re)
			}
		})
	}
}
