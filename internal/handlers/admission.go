package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/corr2d/corr2d/internal/admit"
)

// Admission: a request that carries tensors reserves memory from the
// process's budget before it reads its body, grows the reservation as it
// learns more (the body's length, an image's header), settles it to what
// it holds once its shapes are known, and returns it when it is done.

// readBuffers is what reading a body holds beside its tensors, at the
// most: the stream's window or the multipart buffer, and a part's reader.
const readBuffers = 2 << 20

// answerBuffers is what answering holds beside the output: the held
// answer and a compressor's window.
const answerBuffers = 1 << 20

// bodyOverhead is what reading a body of length bytes (-1 if unknown)
// holds beside its tensors: the buffers are no larger than the body.
func bodyOverhead(length int64) int64 {
	if length < 0 || 2*length > readBuffers {
		return readBuffers + answerBuffers
	}
	return 2*length + answerBuffers
}

// bytesPerByte bounds the decoded size of a tensor per byte of its
// encoding: a JSON number takes at least two bytes ("0,") and decodes to
// eight, and a .npy decodes to at most twice its size (float32 widened to
// float64). Images are reserved from their headers instead.
const bytesPerByte = 4

// growStep is the least a growing reservation takes at a time, so that a
// body of unknown length does not touch the budget on every read.
const growStep = 4 << 20

type reservationKey struct{}

// reservation returns the request's reservation, or an empty one of no
// budget for a request that has none.
func reservation(ctx context.Context) *admit.Reservation {
	if res, ok := ctx.Value(reservationKey{}).(*admit.Reservation); ok {
		return res
	}
	var none *admit.Budget
	return none.Reserve()
}

// refuseLargeBody answers 413 before reading a body whose declared length
// is over the limit, and closes the connection rather than read it.
func (s *Server) refuseLargeBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if limit := s.cfg.Limits.MaxBodyBytes; limit > 0 && r.ContentLength > limit {
			w.Header().Set("Connection", "close")
			s.writeError(w, r, tooLarge("max_body_bytes", "", "the body is declared as %d bytes, more than the %d allowed", r.ContentLength, limit))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// admitBody reserves memory for a request whose tensors decode to at most
// tensorBytes, before its body is read: for a body of known length, what
// that length can decode to; for one of unknown length (compressed,
// chunked), what it has read so far, growing as it reads. It then takes a
// decode slot (see decodeSlot). The body is also held to the read
// deadlines (see guardedBody).
func (s *Server) admitBody(tensorBytes int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			res := s.cfg.Budget.Reserve()
			defer res.Release()
			overhead := bodyOverhead(r.ContentLength)
			first := overhead
			if r.ContentLength > 0 {
				first += min(r.ContentLength*bytesPerByte, tensorBytes)
			}
			if err := res.Grow(r.Context(), first); err != nil {
				w.Header().Set("Connection", "close")
				s.writeError(w, r, admitError(err))
				return
			}
			slot := &decodeSlot{sem: s.decodes}
			defer slot.end()
			if err := slot.takeFirst(r.Context(), s.cfg.DecodeWait); err != nil {
				w.Header().Set("Connection", "close")
				s.writeError(w, r, err)
				return
			}
			r.Body = &guardedBody{
				ctx: r.Context(), body: r.Body, rc: http.NewResponseController(w), res: res, slot: slot,
				covered: first - overhead, most: tensorBytes,
				idle: s.cfg.BodyIdleTimeout, minRate: s.cfg.MinBodyRate, start: time.Now(),
			}
			ctx := context.WithValue(r.Context(), reservationKey{}, res)
			next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, decodeSlotKey{}, slot)))
		})
	}
}

// settle makes the request's reservation exactly need bytes, plus what
// answering holds, once its shapes are known and the body is read.
func settle(ctx context.Context, need int64) error {
	return admitError(reservation(ctx).Set(ctx, need+answerBuffers))
}

// admitError turns the budget's refusals into their answers.
func admitError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, admit.ErrBusy):
		return &apiError{status: http.StatusServiceUnavailable, code: codeOverloaded, limit: "max_memory",
			detail: "the server's memory is taken by other requests; retry later"}
	case errors.Is(err, admit.ErrTooLarge):
		return tooLarge("max_memory", "", "the request needs more memory than the server has for all requests")
	case errors.Is(err, context.Canceled):
		return clientGone()
	}
	return err
}

// reserveImage returns the hook with which an image part reserves what its
// decoding will hold, once its header has said.
func reserveImage(ctx context.Context) func(int64) error {
	return func(n int64) error { return admitError(reservation(ctx).Grow(ctx, n)) }
}

// guardedBody is a request body read under the server's rules:
//   - each read must make progress within idle, or the request ends with
//     408 (a per-read deadline on the connection);
//   - after a grace of idle, the body must have come at minRate bytes per
//     second on average, or the request ends with 408;
//   - the request's reservation grows with what is read, up to most;
//   - the request's decode slot is given back while it waits for the
//     network, and taken again before the bytes are decoded;
//   - a client that drops the connection mid-body is a cancellation.
type guardedBody struct {
	// ctx is the request's: a body lives no longer than its request, and
	// the reservation's wait must end when the client goes.
	ctx     context.Context
	body    io.ReadCloser
	rc      *http.ResponseController
	res     *admit.Reservation
	slot    *decodeSlot
	read    int64
	covered int64 // bytes of tensors the reservation covers
	most    int64
	idle    time.Duration
	minRate int64
	start   time.Time
}

func (b *guardedBody) Read(p []byte) (int, error) {
	b.slot.give()
	n, err := b.read1(p)
	if err == nil || errors.Is(err, io.EOF) {
		// Whatever waits for memory in read1 does so without a slot,
		// so that it cannot hold up the decoding that frees memory.
		if terr := b.slot.take(b.ctx); terr != nil {
			return n, admitError(terr)
		}
	}
	return n, err
}

func (b *guardedBody) read1(p []byte) (int, error) {
	if b.idle > 0 {
		// Not every writer supports deadlines (a test's recorder): then
		// only the rate is checked.
		_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	n, err := b.body.Read(p)
	b.read += int64(n)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, bodyTimeout("the body made no progress for %v", b.idle)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return n, clientGone()
	}
	if elapsed := time.Since(b.start); b.minRate > 0 && elapsed > b.idle && err == nil &&
		float64(b.read) < float64(b.minRate)*elapsed.Seconds() {
		return n, bodyTimeout("the body came at %.0f bytes/s, slower than the %d allowed", float64(b.read)/elapsed.Seconds(), b.minRate)
	}
	if need := min(b.read*bytesPerByte, b.most); need > b.covered {
		step := min(max(need-b.covered, growStep), b.most-b.covered)
		if gerr := b.res.Grow(b.ctx, step); gerr != nil {
			return n, admitError(gerr)
		}
		b.covered += step
	}
	return n, err
}

func (b *guardedBody) Close() error { return b.body.Close() }

// bodyTimeout is the 408 of a body that stalled or came too slowly.
func bodyTimeout(format string, args ...any) *apiError {
	e := invalidField(codeRequestTimeout, "", format, args...)
	e.status = http.StatusRequestTimeout
	return e
}

// statusClientClosed is nginx's code for a client that closed the
// connection before its answer: it appears in logs and metrics only.
const statusClientClosed = 499

// clientGone is the answer, logged and counted only, to a client that left.
func clientGone() *apiError {
	return &apiError{status: statusClientClosed, code: codeClientClosed, detail: "the client closed the request"}
}

// deadlineWriter bounds each write of an answer: a client that stops
// reading makes a write fail after idle, instead of pinning the answer in
// memory for good. The deadline moves on with every write that comes
// more than a tenth of idle after the last move. A handler that sets its
// own write deadlines (an event stream) takes over from it.
type deadlineWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	idle  time.Duration
	moved time.Time
	owned bool // the handler sets the deadlines
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.extend()
	return d.ResponseWriter.Write(p)
}

func (d *deadlineWriter) WriteHeader(code int) {
	d.extend()
	d.ResponseWriter.WriteHeader(code)
}

func (d *deadlineWriter) extend() {
	if d.owned {
		return
	}
	if now := time.Now(); now.Sub(d.moved) > d.idle/10 {
		_ = d.rc.SetWriteDeadline(now.Add(d.idle))
		d.moved = now
	}
}

// Flush lets streamed answers flush through the wrapper.
func (d *deadlineWriter) Flush() {
	d.extend()
	_ = d.rc.Flush()
}

// SetWriteDeadline hands the deadlines over to the handler, through
// http.ResponseController.
func (d *deadlineWriter) SetWriteDeadline(t time.Time) error {
	d.owned = true
	return d.rc.SetWriteDeadline(t)
}

// Unwrap lets http.ResponseController reach the connection.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// writeDeadlines holds every answer to the write deadline.
func (s *Server) writeDeadlines(next http.Handler) http.Handler {
	if s.cfg.WriteIdleTimeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), idle: s.cfg.WriteIdleTimeout}, r)
	})
}
