package engine

import "sync"

// The FFT path's plans and buffers outlive a call. A 256×256 correlation
// with a 31×31 kernel makes about 3 MB of spectra and transform buffers;
// made afresh on every call, they kept the collector running while the heap
// was still small (the first calls of a process ran at half speed), and the
// plans' twiddles cost sines and cosines on every call. So the plans are
// kept by length, read-only and shared by every band, and the buffers go
// back to the engine's recycler when a call ends, for the next call with
// the same sizes.

// maxPlans bounds the plans an engine keeps; past it the cache starts over,
// so that lengths no longer asked for make room for the ones that are.
const maxPlans = 32

// fftPlans caches the transforms' plans by length.
type fftPlans struct {
	mu   sync.Mutex
	cols map[int]*cfft
	rows map[int]*rfft
	offs map[[2]int][]int // specOffsets(p, m) by (p, m)
}

// plans returns the plans of p×q transforms and the spectrum's row offsets,
// making and keeping those it lacks.
func (c *fftPlans) plans(p, q int) (*rfft, *cfft, []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cols == nil || len(c.cols)+len(c.rows)+len(c.offs) > maxPlans {
		c.cols, c.rows, c.offs = map[int]*cfft{}, map[int]*rfft{}, map[[2]int][]int{}
	}
	row, ok := c.rows[q]
	if !ok {
		row = newRFFT(q)
		c.rows[q] = row
	}
	col, ok := c.cols[p]
	if !ok {
		col = newCFFT(p)
		c.cols[p] = col
	}
	key := [2]int{p, q / 2}
	offs, ok := c.offs[key]
	if !ok {
		offs = specOffsets(p, q/2)
		c.offs[key] = offs
	}
	return row, col, offs
}

// complexSize is the size in bytes of a complex128, the recycler's key for
// spectra.
const complexSize = 16

// spectra returns a buffer of n complex values with stale contents: a
// recycled one when there is one.
func spectra(e *Engine, n int) []complex128 {
	if s, ok := e.recycled.get(recycleKey{complexSize, n}).([]complex128); ok {
		return s
	}
	return make([]complex128, n)
}

// releaseSpectra hands s, from spectra, back to e's recycler.
func releaseSpectra(e *Engine, s []complex128) {
	if len(s) >= minRecycled {
		e.recycled.put(recycleKey{complexSize, len(s)}, s[:len(s):len(s)])
	}
}
