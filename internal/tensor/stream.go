package tensor

import (
	"io"

	"github.com/corr2d/corr2d/internal/jsonscan"
)

// Reading a tensor from a stream.
//
// The parser reads the stream's window as it reads a document in memory,
// and at the window's end (a number is never read across it: see
// numberRoom) it asks the stream for more, keeping the text from its place
// on. After every refill, and once the first row's width is known, the
// rows that start in the window are read ahead on several goroutines, as
// Parse reads a large document's (see rows.go), into the places where the
// parser will put them if the tensor is regular. The parser does not wait
// for them to finish the row it is in: it waits when it reaches a row they
// read, when its row runs into theirs, or before the window or the data
// moves. So the window is the only copy of the text, and only the reading
// of the text and the search for rows keep a core idle.
//
// The data is one slice that grows as it fills. When the size of the whole
// text is known, the parser guesses the number of elements from the bytes
// the elements read so far took and the bytes that are left, and makes room
// for them at once, so that a large tensor is not copied while it grows and
// does not, at the moment of a copy, take twice its size.

// WindowSize is a good size for the window of a stream that large tensors
// are read from: large enough that the rows in it keep the workers busy,
// small beside the tensors it is meant for.
const WindowSize = 1 << 20

// reserveMin is how many elements the parser reads before it guesses the
// size of the rest: enough for a good guess, and a tensor smaller than that
// is not worth one.
const reserveMin = 1 << 14

// source is the stream a parser reads.
type source struct {
	s       *jsonscan.Stream
	size    int64 // the length of the whole text, or 0 if unknown
	start   int64 // the offset in the text of the value
	workers int
	guessed bool // room has been made for the guessed size
}

// Read reads the JSON value at the stream's position (after any white
// space) as Parse reads a document, and leaves the stream just past it.
// size is the length of the whole text if it is known (a body's
// Content-Length), 0 if not; it only helps to make room for the data.
//
// If the value is not a tensor within lim, Read returns an *Error and
// leaves the stream where it found the fault, which at says, so that the
// stream's reader can check the rest of the text (see
// jsonscan.Stream.SkipRest). A BadSyntax error is only the first fault in
// the text Read has seen, since Read does not look past it; a fault of
// another kind means that the text up to the stream's position is valid
// JSON. Read opens no more than lim.MaxRank arrays (10000 if it is 0).
func Read(s *jsonscan.Stream, lim Limits, size int64) (d Dense, at jsonscan.Resume, err error) {
	p := newParser(lim)
	p.b, p.i, p.off = s.Window(), s.Pos(), s.Offset()
	p.src = &source{s: s, size: size, start: p.off + int64(p.i), workers: defaultWorkers()}
	p.streaming = !s.Done()
	perr := p.top()
	if perr == nil {
		perr = p.minRank()
	}
	// Workers reading ahead read the window and write the data; rows
	// after the value may keep them busy until now.
	p.dropAhead()
	if perr != nil {
		if perr.Kind == BadSyntax {
			perr = p.explain(perr)
		}
		s.SetPos(p.stop.i)
		return Dense{}, p.stop.resume(), perr
	}
	s.SetPos(p.i)
	data := p.data
	if cap(data)-len(data) > len(data)/8 {
		// The guess (or the growth without one) was well off: keep no
		// more than the data needs. A good guess overshoots by a
		// sixteenth and is kept, since the copy would take as much again
		// for a moment.
		data = append([]float64(nil), data...)
	}
	return Dense{Shape: p.shape, Data: data}, jsonscan.Resume{State: jsonscan.AfterValue}, nil
}

// Decode reads a JSON document from r through a window of window bytes as
// Parse reads it from memory, with the same result and the same errors,
// without holding the document. size is its length if known, or 0.
func Decode(r io.Reader, lim Limits, window int, size int64) (Dense, error) {
	s := jsonscan.NewStream(r, window)
	d, at, err := Read(s, lim, size)
	perr, _ := err.(*Error) //nolint:errorlint // Read returns only *Error
	if perr == nil || perr.Kind != BadSyntax {
		perr = finish(s, at, perr, true)
	}
	if rerr := s.Err(); rerr != nil {
		return Dense{}, rerr
	}
	if perr != nil {
		return Dense{}, perr
	}
	return d, nil
}

// finish checks the text after the parser's place, where it has read a
// value or stopped at the fault err: a syntax fault in the rest of the
// value, or, for a whole document, anything but white space after it,
// takes precedence over err, since whether the input is JSON at all is the
// first thing a caller needs to know. The walker of jsonscan says what the
// syntax fault is.
func finish(s *jsonscan.Stream, at jsonscan.Resume, err *Error, whole bool) *Error {
	if err != nil {
		if serr := s.SkipRest(at, maxNesting); serr != nil {
			return &Error{Kind: BadSyntax, Msg: serr.Error()}
		}
	}
	if !whole {
		return err
	}
	b, i := s.Window(), s.Pos()
	for {
		if i = jsonscan.SkipSpace(b, i); i < len(b) || s.Done() {
			break
		}
		s.More(i)
		b, i = s.Window(), 0
	}
	if terr := trailing(b, i, s.Offset()); terr != nil {
		return terr
	}
	return err
}

// trailing is the fault of text after a value that ends at b[i], of which
// nothing but white space may follow; off is the offset of b in the text.
func trailing(b []byte, i int, off int64) *Error {
	if i = jsonscan.SkipSpace(b, i); i < len(b) {
		return syntaxError(off+int64(i), "unexpected "+jsonscan.QuoteByte(b[i])+" after the value")
	}
	return nil
}

// explain words the syntax fault err of a value read from a stream, at the
// parser's stop, with the walker of jsonscan over the window: the fault
// lies in it, since the parser reads on before it looks at the window's
// end. The stream itself is left where the parser stopped, for its reader.
func (p *parser) explain(err *Error) *Error {
	s := jsonscan.FromBytes(p.b)
	s.SetPos(p.stop.i)
	if serr := s.SkipRest(p.stop.resume(), maxNesting); serr != nil {
		serr.Offset += int(p.off)
		return &Error{Kind: BadSyntax, Msg: serr.Error()}
	}
	return err
}

// more reads on from the stream, dropping the window's bytes before i,
// the parser's place, and returns the place's new index; the bool says
// whether there was more text. Rows read ahead in the old window are
// dropped, and those in the new one read.
func (p *parser) more(i int) (int, bool) {
	if !p.streaming {
		return i, false
	}
	p.dropAhead()
	s := p.src.s
	ok := s.More(i)
	p.b, p.off, p.streaming = s.Window(), s.Offset(), !s.Done()
	p.guessRoom(0)
	p.lookAhead(0)
	return 0, ok
}

// guessRoom makes room in the data for as many elements as the tensor is
// expected to hold, once: the elements so far, and as many more, plus a
// sixteenth, as the rest of the text would hold at the bytes per element
// so far. The parser's place is at index i of the window.
func (p *parser) guessRoom(i int) {
	src := p.src
	if src.guessed || src.size <= 0 || len(p.data) < reserveMin {
		return
	}
	src.guessed = true
	at := p.off + int64(i)
	used, left := at-src.start, src.size-at
	if used <= 0 || left <= 0 {
		return
	}
	n := len(p.data)
	more := float64(left) / float64(used) * float64(n)
	if more > float64(p.max-n) || more > float64(left) {
		return // a guess beyond the limits is no guess
	}
	p.makeRoom(n + int(more) + int(more)/16)
}

// makeRoom makes the data's capacity at least n, with one copy.
func (p *parser) makeRoom(n int) {
	if n <= cap(p.data) {
		return
	}
	data := make([]float64, len(p.data), n)
	copy(data, p.data)
	p.data = data
}

// lookAhead reads the rows that start in the window after index from on
// the workers, once the rows' width is known, into the data at the places
// where the parser will put them if the tensor is regular: the next row to
// start is the one at the next multiple of the width.
func (p *parser) lookAhead(from int) {
	if p.src.workers < 2 || !p.leafs {
		return
	}
	width := p.shape[len(p.shape)-1]
	if width < minRowWidth {
		return
	}
	starts := findRows(p.b, from, len(p.b)/(2*width))
	first := (len(p.data) + width - 1) / width
	rows := min(len(starts), p.max/width-first)
	if rows < p.src.workers {
		return
	}
	need := (first + rows) * width
	if need > cap(p.data) {
		p.guessRoom(from)
		p.makeRoom(max(need, cap(p.data)+cap(p.data)/4))
	}
	// The workers read on while the parser goes on with the row it is in,
	// into the data past it; the parser waits for them when it reaches a
	// row they read, or before the window or the data moves.
	p.ahead = &rowsAhead{starts: starts[:rows], width: width, first: first, data: &p.data[:1][0]}
	p.guard = min(p.max, first*width)
	startRows(p.ahead, p.b, p.data[first*width:need], p.src.workers)
}

// dropAhead waits for the workers reading ahead, if any, and forgets what
// they read: before the window moves, or the parser returns.
func (p *parser) dropAhead() {
	if p.ahead != nil {
		p.ahead.reading.Wait()
		p.ahead = nil
		p.guard = p.max
	}
}
