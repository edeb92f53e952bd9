package tensor

import (
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/corr2d/corr2d/internal/fastfloat"
)

// AppendJSON writes t as nested arrays, each number in the shortest form
// that reads back to the same value at the given precision (32 or 64 bits),
// formatted as encoding/json formats it.
func AppendJSON(b []byte, t Dense, bits int) []byte {
	if len(t.Shape) == 0 {
		return fastfloat.AppendFloat(b, t.Data[0], bits)
	}
	n := Size(t.Shape)
	if n == 0 {
		return appendNested(b, t.Shape, t.Data, bits)
	}
	b = slices.Grow(b, estimateLen(t.Shape, t.Data, bits))
	return appendElements(b, t.Shape, t.Data, 0, n, bits)
}

// estimateLen guesses the length of t's JSON from its first numbers, so
// that the output grows once rather than by repeated doubling.
func estimateLen(shape []int, data []float64, bits int) int {
	const sample = 32
	n := Size(shape)
	if n < 4*sample {
		return n * 8
	}
	var buf [sample * 26]byte
	b := buf[:0]
	for _, v := range data[:sample] {
		b = appendNumber(b, v, bits)
	}
	perElem := len(b)/sample + 2 // the comma, and room for longer numbers later
	return n*perElem + 2*n/shape[len(shape)-1]*len(shape)
}

// appendElements writes the elements lo to hi-1 of a tensor with the given
// shape and at least one element, each preceded by what separates it from
// the one before (or the opening brackets, for the first), and the closing
// brackets after the last element if hi is the end. Any run of elements can
// so be written on its own, and the runs joined in order.
func appendElements(b []byte, shape []int, data []float64, lo, hi, bits int) []byte {
	rank := len(shape)
	row := shape[rank-1]
	for e := lo; e < hi; {
		switch {
		case e == 0:
			b = appendRepeat(b, '[', rank)
		case e%row == 0:
			// Close the arrays that end here and open as many.
			k, span := 1, row
			for k < rank-1 && e%(span*shape[rank-1-k]) == 0 {
				span *= shape[rank-1-k]
				k++
			}
			b = appendRepeat(b, ']', k)
			b = append(b, ',')
			b = appendRepeat(b, '[', k)
		default:
			b = append(b, ',')
		}
		end := min(hi, (e/row+1)*row)
		if bits == 64 {
			b = appendFloats64(b, data[e:end])
			e = end
		} else {
			b = fastfloat.AppendFloat(b, data[e], bits)
			for e++; e < end; e++ {
				b = append(b, ',')
				b = fastfloat.AppendFloat(b, data[e], bits)
			}
		}
	}
	if hi == Size(shape) {
		b = appendRepeat(b, ']', rank)
	}
	return b
}

// floatsPerGrow is how many numbers appendFloats64 makes room for at once.
const floatsPerGrow = 256

// appendFloats64 appends the numbers of run, at least one, separated by
// commas. It makes room for a batch of numbers at a time and writes them by
// index, which saves a capacity check and a call per number.
func appendFloats64(b []byte, run []float64) []byte {
	for len(run) > 0 {
		batch := run[:min(len(run), floatsPerGrow)]
		run = run[len(batch):]
		// Each number takes at most fastfloat.MaxFloat64Len bytes with its comma;
		// the last one needs that much room to be written.
		b = slices.Grow(b, len(batch)*fastfloat.MaxFloat64Len)
		out := b[len(b):cap(b)]
		k := 0
		for _, v := range batch {
			k += fastfloat.PutFloat64(out[k:], v)
			out[k] = ','
			k++
		}
		b = b[:len(b)+k]
	}
	return b[:len(b)-1]
}

func appendRepeat(b []byte, c byte, n int) []byte {
	for range n {
		b = append(b, c)
	}
	return b
}

func appendNumber(b []byte, v float64, bits int) []byte {
	if bits == 64 {
		return fastfloat.AppendFloat64(b, v)
	}
	return fastfloat.AppendFloat(b, v, bits)
}

// appendNested is the reference writer that AppendJSON's output must match
// byte for byte: a plain recursion over the shape with strconv's formatting.
// AppendJSON still uses it for tensors with no elements, like [[],[]].
func appendNested(b []byte, shape []int, data []float64, bits int) []byte {
	b, _ = appendNestedRest(b, shape, data, bits)
	return b
}

func appendNestedRest(b []byte, shape []int, data []float64, bits int) ([]byte, []float64) {
	b = append(b, '[')
	for i := 0; i < shape[0]; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		if len(shape) == 1 {
			b = fastfloat.AppendFloat(b, data[0], bits)
			data = data[1:]
		} else {
			b, data = appendNestedRest(b, shape[1:], data, bits)
		}
	}
	return append(b, ']'), data
}

// chunkElems is how many elements one worker formats at a time: large
// enough that handing chunks over costs nothing, small enough that the
// chunks spread over the workers and the buffers in flight stay small
// (about 160 KB each for float64 numbers of 17 digits).
const chunkElems = 1 << 13

// AppendJSONParallel is AppendJSON with the numbers formatted by up to
// workers goroutines at once (GOMAXPROCS if workers < 1), each writing a
// run of elements into a buffer of its own; the runs are appended to b in
// order. The output is byte for byte AppendJSON's. Every goroutine it starts
// has ended when it returns. Small tensors are written by the calling
// goroutine alone.
func AppendJSONParallel(b []byte, t Dense, bits, workers int) []byte {
	n := Size(t.Shape)
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	if len(t.Shape) == 0 || n < 2*chunkElems || workers < 2 || len(t.Data) != n {
		return AppendJSON(b, t, bits)
	}
	first := true
	_ = formatChunks(t, bits, workers, func(chunk []byte) error {
		if first {
			// Grow once, by the first chunk's size times the number of chunks.
			b = slices.Grow(b, len(chunk)*((n+chunkElems-1)/chunkElems)*9/8)
			first = false
		}
		b = append(b, chunk...)
		return nil
	})
	return b
}

// WriteJSON writes t to w as AppendJSON would, with the numbers formatted
// by up to workers goroutines (GOMAXPROCS if workers < 1) into a bounded
// set of buffers that are written to w in order as they complete. Unlike
// AppendJSON it checks t first: the shape must match the data, and NaN and
// ±Inf, which JSON cannot hold, are an error, reported before anything is
// written. A write error stops the formatting and is returned once every
// goroutine WriteJSON started has ended.
func WriteJSON(w io.Writer, t Dense, bits, workers int) error {
	n := Size(t.Shape)
	if n != len(t.Data) {
		return fmt.Errorf("tensor: shape %v holds %d elements, data has %d", t.Shape, n, len(t.Data))
	}
	for _, v := range t.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return errors.New("tensor: NaN or Inf cannot be written as JSON")
		}
	}
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	if len(t.Shape) == 0 || n < 2*chunkElems || workers < 2 {
		_, err := w.Write(AppendJSON(nil, t, bits))
		return err
	}
	return formatChunks(t, bits, workers, func(chunk []byte) error {
		_, err := w.Write(chunk)
		return err
	})
}

// formatChunks formats t, which has elements, in runs of chunkElems
// elements by up to workers goroutines and passes the runs to emit in
// order, on the calling goroutine. Workers take the next run only with a
// free buffer in hand, and there are two buffers per worker, so at most
// that many runs are formatted ahead of emit. The first error from emit
// stops the work; all goroutines have ended when formatChunks returns.
func formatChunks(t Dense, bits, workers int, emit func([]byte) error) error {
	n := len(t.Data)
	chunks := (n + chunkElems - 1) / chunkElems
	workers = min(workers, chunks)
	free := make(chan []byte, 2*workers)
	for range 2 * workers {
		free <- nil
	}
	done := make([]chan []byte, chunks)
	for k := range done {
		done[k] = make(chan []byte, 1) // the worker never waits for emit
	}
	quit := make(chan struct{})
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				var buf []byte
				select {
				case <-quit:
					return
				case buf = <-free:
				}
				k := int(next.Add(1) - 1)
				if k >= chunks {
					return
				}
				lo := k * chunkElems
				done[k] <- appendElements(buf[:0], t.Shape, t.Data, lo, min(lo+chunkElems, n), bits)
			}
		})
	}
	var err error
	for k := range chunks {
		buf := <-done[k]
		if err = emit(buf); err != nil {
			break
		}
		free <- buf
	}
	close(quit)
	wg.Wait()
	return err
}
