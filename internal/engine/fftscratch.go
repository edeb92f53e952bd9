package engine

import (
	"sync"
	"unsafe"
)

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

// fftPlans caches the transforms' plans by length, for both precisions.
type fftPlans struct {
	mu   sync.Mutex
	c64  planSet[complex64]
	c128 planSet[complex128]
	offs map[[2]int][]int // specOffsets(p, m) by (p, m)
	n    int              // plans held
}

// planSet holds the plans of one precision.
type planSet[C Complex] struct {
	cols map[int]*cfft[C]
	rows map[int]*rfft[C]
}

// plans returns the plans of p×q transforms in C and the spectrum's row
// offsets, making and keeping those it lacks.
func plans[C Complex](c *fftPlans, p, q int) (*rfft[C], *cfft[C], []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.offs == nil || c.n > maxPlans {
		c.c64, c.c128 = planSet[complex64]{map[int]*cfft[complex64]{}, map[int]*rfft[complex64]{}}, planSet[complex128]{map[int]*cfft[complex128]{}, map[int]*rfft[complex128]{}}
		c.offs, c.n = map[[2]int][]int{}, 0
	}
	set, ok := any(&c.c64).(*planSet[C])
	if !ok {
		set = any(&c.c128).(*planSet[C])
	}
	row, ok := set.rows[q]
	if !ok {
		row = newRFFT[C](q)
		set.rows[q] = row
		c.n++
	}
	col, ok := set.cols[p]
	if !ok {
		col = newCFFT[C](p)
		set.cols[p] = col
		c.n++
	}
	key := [2]int{p, q / 2}
	offs, ok := c.offs[key]
	if !ok {
		offs = specOffsets(p, q/2)
		c.offs[key] = offs
		c.n++
	}
	return row, col, offs
}

// spectrumKey is the recycler's key for a buffer of n values of C: its
// size with spectrumTag set, so that a []complex64 is never taken for a
// []float64 of the same size and length.
func spectrumKey[C Complex](n int) recycleKey {
	var z C
	return recycleKey{unsafe.Sizeof(z) | spectrumTag, n}
}

// spectrumTag marks the recycler's keys of spectra (see spectrumKey); the
// bytes a buffer holds are its size without the tag times its length.
const spectrumTag = 1 << 8

// spectra returns a buffer of n complex values with stale contents: a
// recycled one when there is one.
func spectra[C Complex](e *Engine, n int) []C {
	if s, ok := e.recycled.get(spectrumKey[C](n)).([]C); ok {
		return s
	}
	return make([]C, n)
}

// releaseSpectra hands s, from spectra, back to e's recycler.
func releaseSpectra[C Complex](e *Engine, s []C) {
	if len(s) >= minRecycled {
		e.recycled.put(spectrumKey[C](len(s)), s[:len(s):len(s)])
	}
}
