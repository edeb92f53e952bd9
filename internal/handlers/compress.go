package handlers

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// decompress inflates a gzip or zstd request body as it is read. The body
// limit applies to the inflated bytes, so a small body that inflates past
// it is refused as soon as the limit is crossed, without inflating the rest.
func (s *Server) decompress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
		if enc == "" || enc == "identity" {
			next.ServeHTTP(w, r)
			return
		}
		limit := s.cfg.Limits.MaxBodyBytes
		raw := http.MaxBytesReader(w, r.Body, limit)
		var body io.ReadCloser
		switch enc {
		case "gzip", "x-gzip":
			release, ok := s.reserveDecoder(w, r, gzipState)
			if !ok {
				return
			}
			defer release()
			zr, err := gzip.NewReader(raw)
			if err != nil {
				s.writeError(w, r, bodyFault(fmt.Errorf("gzip: %w", err), "the body could not be read"))
				return
			}
			body = zr
		case "zstd":
			br := bufio.NewReader(raw)
			head, _ := br.Peek(zstdHeaderMax)
			window := zstdWindow(head, uint64(limit))
			// The decoder's window is memory the body does not count:
			// reserve it, and hold every later frame to it (a later
			// single-segment frame's window is its whole content size,
			// which the decoder checks against the same bound).
			release, ok := s.reserveDecoder(w, r, int64(window)+zstdOverhead)
			if !ok {
				return
			}
			defer release()
			zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxMemory(uint64(limit)), zstd.WithDecoderMaxWindow(window))
			if err != nil {
				s.writeError(w, r, fmt.Errorf("zstd: %w", err))
				return
			}
			body = zr.IOReadCloser()
		default:
			s.writeError(w, r, &apiError{status: http.StatusUnsupportedMediaType, code: codeUnsupportedMedia,
				detail: "Content-Encoding must be gzip, zstd or identity"})
			return
		}
		defer body.Close()
		r2 := r.Clone(r.Context())
		r2.Body = &inflated{r: body, raw: raw}
		r2.Header.Del("Content-Encoding")
		r2.ContentLength = -1
		next.ServeHTTP(w, r2)
	})
}

// reserveDecoder reserves n bytes of a decompressor's state, which the
// body's own reservation does not count, for as long as the request lasts;
// or answers the refusal and reports false.
func (s *Server) reserveDecoder(w http.ResponseWriter, r *http.Request, n int64) (release func(), ok bool) {
	res := s.cfg.Budget.Reserve()
	if err := res.Grow(r.Context(), n); err != nil {
		w.Header().Set("Connection", "close")
		s.writeError(w, r, admitError(err))
		return nil, false
	}
	return res.Release, true
}

// gzipState is what a gzip decoder holds: its 32 KiB window, its Huffman
// tables and its read buffer, rounded up.
const gzipState = 64 << 10

// zstdHeaderMax is the longest zstd frame header: magic (4), descriptor
// (1), window (1), dictionary id (4) and content size (8).
const zstdHeaderMax = 18

// zstdOverhead is what a zstd decoder holds beside its window: its block
// buffers and tables.
const zstdOverhead = 1 << 20

// zstdDefaultWindow is the window assumed, and allowed, when a body does
// not start with a frame header that says: the largest that zstd's
// default levels use.
const zstdDefaultWindow = 8 << 20

// zstdWindow returns the window that the zstd frame at the start of head
// declares, at least zstd's least (1 KiB) and at most limit, or
// zstdDefaultWindow if head does not start with a frame header. A
// single-segment frame's window is its content size.
func zstdWindow(head []byte, limit uint64) uint64 {
	const magic = 0xFD2FB528
	if len(head) < 6 || binary.LittleEndian.Uint32(head) != magic {
		return min(zstdDefaultWindow, max(limit, zstd.MinWindowSize))
	}
	var window uint64
	desc := head[4]
	if desc&0x20 == 0 {
		// A window descriptor: exponent and eighths.
		exp, mantissa := head[5]>>3, head[5]&7
		base := uint64(1) << (10 + exp)
		window = base + base/8*uint64(mantissa)
	} else {
		dictBytes := [4]int{0, 1, 2, 4}[desc&3]
		off, n := 5+dictBytes, [4]int{1, 2, 4, 8}[desc>>6]
		if len(head) < off+n {
			return min(zstdDefaultWindow, max(limit, zstd.MinWindowSize))
		}
		switch n {
		case 1:
			window = uint64(head[off])
		case 2:
			window = uint64(binary.LittleEndian.Uint16(head[off:])) + 256
		case 4:
			window = uint64(binary.LittleEndian.Uint32(head[off:]))
		default:
			window = binary.LittleEndian.Uint64(head[off:])
		}
	}
	return max(min(window, limit), zstd.MinWindowSize)
}

// inflated turns a corrupt compressed stream into a malformed-body error
// while keeping the raw body's size-limit error recognisable.
type inflated struct {
	r   io.Reader
	raw io.Closer
}

func (b *inflated) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var mbe *http.MaxBytesError
	switch {
	case err == nil || errors.Is(err, io.EOF) || errors.As(err, &mbe):
	case errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded):
		err = tooLarge("max_memory", "", "a zstd frame of the body needs a larger window than the first frame's, which the server reserved")
	default:
		err = &apiError{status: http.StatusBadRequest, code: codeMalformedJSON, detail: "the compressed body is corrupt: " + err.Error()}
	}
	return n, err
}

func (b *inflated) Close() error { return b.raw.Close() }

// minCompress is the smallest body worth compressing.
const minCompress = 1024

// coding is a content coding the service can compress answers with.
type coding struct {
	name      string
	newWriter func(io.Writer) (encoder, error)
	// idle holds encoders of whole bodies between answers: a new one
	// allocates its tables (about a megabyte for gzip), which, answer after
	// answer, is more work for the collector than the compression itself.
	idle *sync.Pool
}

// encoder is a compressing writer that can start over on another writer.
type encoder interface {
	io.WriteCloser
	Reset(w io.Writer)
}

// serviceCodings are the content codings in the service's order of
// preference, each fast rather than thorough: an answer is compressed while
// the client waits. Their pools hold only idle encoders, no state that an
// answer could see.
var serviceCodings = []coding{
	{name: "zstd", idle: &sync.Pool{}, newWriter: func(w io.Writer) (encoder, error) {
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	}},
	{name: "gzip", idle: &sync.Pool{}, newWriter: func(w io.Writer) (encoder, error) {
		return gzip.NewWriterLevel(w, gzip.BestSpeed)
	}},
}

// negotiateCoding returns the coding the request's Accept-Encoding allows
// that the service prefers, or false if it allows none.
func negotiateCoding(r *http.Request) (coding, bool) {
	accept := r.Header.Get("Accept-Encoding")
	for _, c := range serviceCodings {
		if acceptsEncoding(accept, c.name) {
			return c, true
		}
	}
	return coding{}, false
}

// compressBody compresses body for the client if it asks for zstd or gzip
// and the body is large enough, and returns the encoding used.
func compressBody(r *http.Request, body []byte) ([]byte, string) {
	if len(body) < minCompress {
		return body, ""
	}
	c, ok := negotiateCoding(r)
	if !ok {
		return body, ""
	}
	var buf bytes.Buffer
	zw, ok := c.idle.Get().(encoder)
	if ok {
		zw.Reset(&buf)
	} else {
		var err error
		if zw, err = c.newWriter(&buf); err != nil {
			return body, ""
		}
	}
	_, werr := zw.Write(body)
	if errors.Join(werr, zw.Close()) != nil {
		return body, "" // sending it as it is beats failing the request
	}
	zw.Reset(io.Discard) // lets go of buf
	c.idle.Put(zw)
	return buf.Bytes(), c.name
}

// compressed serves what next answers, compressed as compressBody does.
// next's answer is held whole, so it suits small answers such as /metrics.
func compressed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held := &heldAnswer{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(held, r)
		h := w.Header()
		for k, v := range held.header {
			h[k] = v
		}
		writeBody(w, r, held.status, held.header.Get("Content-Type"), held.body.Bytes())
	})
}

// heldAnswer is an http.ResponseWriter that keeps the answer for compressed.
type heldAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *heldAnswer) Header() http.Header         { return a.header }
func (a *heldAnswer) WriteHeader(status int)      { a.status = status }
func (a *heldAnswer) Write(p []byte) (int, error) { return a.body.Write(p) }

// acceptsEncoding reports whether an Accept-Encoding header allows enc
// (with a q-value above zero).
func acceptsEncoding(header, enc string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), enc) {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
