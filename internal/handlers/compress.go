package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

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
			zr, err := gzip.NewReader(raw)
			if err != nil {
				s.writeError(w, r, bodyFault(fmt.Errorf("gzip: %w", err), "the body could not be read"))
				return
			}
			body = zr
		case "zstd":
			zr, err := zstd.NewReader(raw, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)))
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

// inflated turns a corrupt compressed stream into a malformed-body error
// while keeping the raw body's size-limit error recognisable.
type inflated struct {
	r   io.Reader
	raw io.Closer
}

func (b *inflated) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var mbe *http.MaxBytesError
	if err != nil && !errors.Is(err, io.EOF) && !errors.As(err, &mbe) {
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
	newWriter func(io.Writer) (io.WriteCloser, error)
}

// codings returns the content codings in the service's order of
// preference, each fast rather than thorough: an answer is compressed while
// the client waits.
func codings() []coding {
	return []coding{
		{"zstd", func(w io.Writer) (io.WriteCloser, error) {
			return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		}},
		{"gzip", func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriterLevel(w, gzip.BestSpeed) }},
	}
}

// negotiateCoding returns the coding the request's Accept-Encoding allows
// that the service prefers, or false if it allows none.
func negotiateCoding(r *http.Request) (coding, bool) {
	accept := r.Header.Get("Accept-Encoding")
	for _, c := range codings() {
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
	zw, err := c.newWriter(&buf)
	if err != nil {
		return body, ""
	}
	_, werr := zw.Write(body)
	if errors.Join(werr, zw.Close()) != nil {
		return body, "" // sending it as it is beats failing the request
	}
	return buf.Bytes(), c.name
}

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
