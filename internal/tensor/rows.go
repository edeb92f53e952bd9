package tensor

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/corr2d/corr2d/internal/fastfloat"
	"github.com/corr2d/corr2d/internal/jsonscan"
)

// Reading a large tensor's rows on several goroutines.
//
// Almost all of a large tensor's bytes are in its innermost arrays, the
// rows, and each row can be read on its own once it is found. A row starts
// at a '[' that is not followed by another '[', which bytes.IndexByte finds
// at memory speed. So before the parser walks the document, Parse finds the
// rows, reads them on up to GOMAXPROCS goroutines straight into the result,
// and lets the parser skip every row that was read: the parser still checks
// all that lies between the rows, the shape, and the limits, in document
// order. The search is a guess that the parser confirms: a row a worker
// could not read, or a '[' that was no row (inside a string, say), is read
// by the parser itself, which then reports any fault exactly as it would
// have without the workers. Read does the same in each window of a stream
// (see stream.go).

// parallelMin is the size of document from which Parse reads rows ahead
// on several goroutines; below it, starting them costs more than it saves.
const parallelMin = 1 << 20

// minRowWidth is the narrowest row worth a place in the table of rows.
const minRowWidth = 16

// rowsAhead are the rows read by the workers: every row after the first,
// or in a stream's window, every row after the parser's place.
type rowsAhead struct {
	starts  []int          // offset of each row's '['
	ends    []int          // offset past each row's ']', or -1 if it could not be read
	width   int            // elements in each row, as in the first
	first   int            // the index in the tensor of the first row
	data    *float64       // the first element of the array they were read into
	next    int            // the first row the parser has not yet reached
	reading sync.WaitGroup // the workers still reading, if they were left to
}

// readRowsAhead finds and reads the rows of p.b, if it is worth it, and
// reserves p.data for the whole tensor with the rows in place. All the
// goroutines it starts have ended when it returns.
func (p *parser) readRowsAhead(workers int) {
	b := p.b
	first, depth := -1, 0
	i := jsonscan.SkipSpace(b, 0)
	for i < len(b) && b[i] == '[' {
		first, depth = i, depth+1
		i = jsonscan.SkipSpace(b, i+1)
	}
	if depth < 2 || p.lim.MaxRank > 0 && depth > p.lim.MaxRank {
		return
	}
	end := bytes.IndexByte(b[first:], ']')
	if end < 0 {
		return
	}
	end += first
	width := bytes.Count(b[first:end], []byte{','}) + 1
	if width < minRowWidth {
		return
	}
	// A row of width numbers takes at least 2×width bytes; a document with
	// more '[' than that allows is no tensor, and is left to the parser.
	starts := findRows(b, end, len(b)/(2*width))
	rows := len(starts) + 1
	if rows > p.max/width || len(starts) < workers {
		return
	}
	data := make([]float64, rows*width)
	ends := readRows(b, starts, data[width:], width, workers)
	p.data = data[:0]
	p.ahead = &rowsAhead{starts: starts, ends: ends, width: width, first: 1, data: &data[0]}
}

// take returns the end of the row that starts at pos, if a worker read it
// into the place where the parser, having read the elements in data, puts
// it, in data's array.
func (r *rowsAhead) take(pos int, data []float64) (int, bool) {
	r.reading.Wait()
	for r.next < len(r.starts) && r.starts[r.next] < pos {
		r.next++
	}
	if r.next == len(r.starts) || r.starts[r.next] != pos {
		return 0, false
	}
	k := r.next
	r.next++
	if r.ends[k] < 0 || len(data) != (r.first+k)*r.width || &data[:1][0] != r.data {
		return 0, false
	}
	return r.ends[k], true
}

// findRows returns the offsets of the rows that start in b after from:
// of each '[' followed, after any white space, by a byte other than '['. It
// gives up, returning nil, past limit rows.
func findRows(b []byte, from, limit int) []int {
	var starts []int
	for j := from; ; j++ {
		k := bytes.IndexByte(b[j:], '[')
		if k < 0 {
			return starts
		}
		j += k
		if n := jsonscan.SkipSpace(b, j+1); n < len(b) && b[n] != '[' {
			if len(starts) == limit {
				return nil
			}
			starts = append(starts, j)
		}
	}
}

// readRows reads the rows that start at starts into dst, row r at
// dst[r*width:], on up to workers goroutines, and returns where each ends
// (-1 for one that could not be read). All the goroutines have ended when
// it returns.
func readRows(b []byte, starts []int, dst []float64, width, workers int) []int {
	ends := make([]int, len(starts))
	read := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ends[r] = readRow(b, starts[r], dst[r*width:(r+1)*width])
		}
	}
	per := (len(starts) + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := per; lo < len(starts); lo += per {
		wg.Go(func() { read(lo, min(lo+per, len(starts))) })
	}
	read(0, min(per, len(starts)))
	wg.Wait()
	return ends
}

// startRows is readRows on workers goroutines that it leaves to run: they
// take the rows in turn, a few at a time, and r.reading counts them until
// they are done. They read b and write dst, which must not change until
// then.
func startRows(r *rowsAhead, b []byte, dst []float64, workers int) {
	r.ends = make([]int, len(r.starts))
	const batch = 4
	var next atomic.Int64
	for range workers {
		r.reading.Go(func() {
			for {
				lo := int(next.Add(batch)) - batch
				if lo >= len(r.starts) {
					return
				}
				for k := lo; k < min(lo+batch, len(r.starts)); k++ {
					r.ends[k] = readRow(b, r.starts[k], dst[k*r.width:(k+1)*r.width])
				}
			}
		})
	}
}

// readRow reads the array of exactly len(dst) numbers whose '[' is at b[i]
// into dst, and returns the offset past its ']', or -1 for anything else.
func readRow(b []byte, i int, dst []float64) int {
	i = jsonscan.SkipSpace(b, i+1)
	for n := 0; n < len(dst); n++ {
		if i == len(b) || b[i] != '-' && b[i]-'0' > 9 {
			return -1
		}
		v, j, st := fastfloat.ReadNumber(b, i)
		if st != fastfloat.OK {
			return -1
		}
		dst[n] = v
		i = j
		if i < len(b) && b[i] == ',' {
			i = jsonscan.SkipSpace(b, i+1)
			continue
		}
		i = jsonscan.SkipSpace(b, i)
		if i == len(b) {
			return -1
		}
		if b[i] == ']' {
			if n+1 == len(dst) {
				return i + 1
			}
			return -1
		}
		if b[i] != ',' {
			return -1
		}
		i = jsonscan.SkipSpace(b, i+1)
	}
	return -1
}

func defaultWorkers() int { return runtime.GOMAXPROCS(0) }
