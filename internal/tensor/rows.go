package tensor

import (
	"bytes"
	"runtime"
	"sync"
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
// have without the workers.

// parallelMin is the size of document from which Parse reads rows ahead
// on several goroutines; below it, starting them costs more than it saves.
const parallelMin = 1 << 20

// minRowWidth is the narrowest row worth a place in the table of rows.
const minRowWidth = 16

// rowsAhead are the rows read by the workers: every row after the first.
type rowsAhead struct {
	starts []int // offset of each row's '['
	ends   []int // offset past each row's ']', or -1 if it could not be read
	width  int   // elements in each row, as in the first
	next   int   // the first row the parser has not yet reached
}

// readRowsAhead finds and reads the rows of p.b, if it is worth it, and
// reserves p.data for the whole tensor with the rows in place. All the
// goroutines it starts have ended when it returns.
func (p *parser) readRowsAhead(workers int) {
	b := p.b
	first, depth := -1, 0
	i := skipSpace(b, 0)
	for i < len(b) && b[i] == '[' {
		first, depth = i, depth+1
		i = skipSpace(b, i+1)
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
	maxRows := len(b) / (2 * width)
	var starts []int
	for j := end; ; j++ {
		k := bytes.IndexByte(b[j:], '[')
		if k < 0 {
			break
		}
		j += k
		if n := skipSpace(b, j+1); n < len(b) && b[n] != '[' {
			if len(starts) == maxRows {
				return
			}
			starts = append(starts, j)
		}
	}
	rows := len(starts) + 1
	if rows > p.max/width || len(starts) < workers {
		return
	}
	data := make([]float64, rows*width)
	ends := make([]int, len(starts))
	read := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ends[r] = readRow(b, starts[r], data[(r+1)*width:(r+2)*width])
		}
	}
	per := (len(starts) + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := per; lo < len(starts); lo += per {
		wg.Go(func() { read(lo, min(lo+per, len(starts))) })
	}
	read(0, min(per, len(starts)))
	wg.Wait()
	p.data = data[:0]
	p.ahead = &rowsAhead{starts: starts, ends: ends, width: width}
}

// take returns the end of the row that starts at pos, if a worker read it
// into the place where the parser, having read have elements, puts it.
func (r *rowsAhead) take(pos, have int) (int, bool) {
	for r.next < len(r.starts) && r.starts[r.next] < pos {
		r.next++
	}
	if r.next == len(r.starts) || r.starts[r.next] != pos {
		return 0, false
	}
	k := r.next
	r.next++
	if r.ends[k] < 0 || have != (k+1)*r.width {
		return 0, false
	}
	return r.ends[k], true
}

// readRow reads the array of exactly len(dst) numbers whose '[' is at b[i]
// into dst, and returns the offset past its ']', or -1 for anything else.
func readRow(b []byte, i int, dst []float64) int {
	i = skipSpace(b, i+1)
	for n := 0; n < len(dst); n++ {
		if i == len(b) || b[i] != '-' && b[i]-'0' > 9 {
			return -1
		}
		v, j, st := readNumber(b, i)
		if st != numOK {
			return -1
		}
		dst[n] = v
		i = j
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		i = skipSpace(b, i)
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
		i = skipSpace(b, i+1)
	}
	return -1
}

func defaultWorkers() int { return runtime.GOMAXPROCS(0) }
