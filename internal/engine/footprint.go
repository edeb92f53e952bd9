package engine

import "runtime"

// Footprint returns the bytes a Conv2D of an input of shape in and a kernel
// of shape w allocates beyond its operands, with elements of size bytes (4
// or 8): the output, a padded copy of the input when the geometry needs
// one, the FFT path's spectra when that path would run, and the Winograd
// path's transformed weights and working memory when it would. It lets a
// caller reserve memory before it reads a request whose shapes it knows.
// The figure is an upper bound of what the call holds at once, not of
// short-lived per-band buffers of a few rows.
func (c Conv) Footprint(in, w [4]int, size int) (int64, error) {
	g, err := c.resolve(in, w)
	if err != nil {
		return 0, err
	}
	sz := int64(size)
	bytes := sz * int64(g.out[0]) * int64(g.out[1]) * int64(g.out[2]) * int64(g.out[3])
	m := c.Method
	if m == MethodAuto {
		m = chooseMethod(g, uintptr(size))
	}
	switch {
	case m == MethodWinograd:
		bytes += sz * winoFootprint(g, size, runtime.GOMAXPROCS(0))
	case g.pads != [4]int{} || g.sw != 1:
		wq := int64((g.wn + g.sw - 1) / g.sw)
		bytes += sz * int64(in[0]) * int64(in[1]) * int64(g.hn) * int64(g.sw) * wq
	}
	if m == MethodFFT {
		// The kernels' spectra, and per band at work one spectrum per
		// input channel and an accumulator.
		spectrum := int64(fftTile(g, fftMaxTile, uintptr(size)).spectrum()) * 2 * sz // complex64 or complex128
		planes := int64(w[0])*int64(w[1]) + int64(runtime.GOMAXPROCS(0))*(int64(in[1])+1)
		bytes += planes * spectrum
	}
	return bytes, nil
}
