package handlers

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/corr2d/corr2d/internal/grayimg"
	"github.com/corr2d/corr2d/internal/npy"
	"github.com/corr2d/corr2d/internal/tensor"
)

// Media types of tensor answers.
const (
	mediaJSON = "application/json"
	mediaNPY  = "application/x-npy"
	mediaPNG  = "image/png"
)

// negotiate picks the answer's media type from the Accept header: the one
// the client weighs highest, JSON when it does not care. It fails with a
// 406 when the client accepts none of them.
func negotiate(r *http.Request) (string, error) {
	header := r.Header.Get("Accept")
	if strings.TrimSpace(header) == "" {
		return mediaJSON, nil
	}
	best, bestQ := "", 0.0
	for _, part := range strings.Split(header, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(v, 64); err != nil {
				continue
			}
		}
		// Our preference among what a wildcard allows: JSON, then PNG.
		var cand string
		switch mt {
		case mediaJSON, "*/*", "application/*":
			cand = mediaJSON
		case mediaNPY:
			cand = mediaNPY
		case mediaPNG, "image/*":
			cand = mediaPNG
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = cand, q
		}
	}
	if best == "" {
		return "", &apiError{status: http.StatusNotAcceptable, code: codeNotAcceptable,
			detail: "answers come as application/json, application/x-npy or image/png"}
	}
	return best, nil
}

// scaleParams say how a tensor becomes an 8-bit image: "minmax" (the
// default) maps the smallest value to black and the largest to white;
// "clip" maps range[0] to black and range[1] to white and clips the rest.
type scaleParams struct {
	Scale *string   `json:"scale"`
	Range []float64 `json:"range"`
}

func (p scaleParams) scale() (grayimg.Scale, error) {
	s := grayimg.Scale{Mode: grayimg.ModeMinMax}
	if p.Scale != nil {
		switch *p.Scale {
		case "minmax":
		case "clip":
			s.Mode = grayimg.ModeClip
		default:
			return s, invalidField(codeInvalidValue, "/scale", `must be "minmax" or "clip"`)
		}
	}
	switch {
	case s.Mode == grayimg.ModeClip && (len(p.Range) != 2 || !(p.Range[0] < p.Range[1])):
		return s, invalidField(codeInvalidValue, "/range", "must be [low, high] with low < high for clip scaling")
	case s.Mode == grayimg.ModeClip:
		s.Lo, s.Hi = p.Range[0], p.Range[1]
	case p.Range != nil:
		return s, invalidField(codeInvalidValue, "/range", "goes with scale: clip")
	}
	return s, nil
}

// answerInfo is what a JSON answer says besides the output.
type answerInfo struct {
	dtype, method string
}

// answer is a computed output as the client asked for it: in the media
// type negotiated, at the precision it was computed in (bits, 32 or 64).
type answer struct {
	media string
	t     tensor.Dense
	f32   []float32 // the values of a float32 answer; t has only its shape then
	bits  int
	info  answerInfo
	scale grayimg.Scale
}

// check refuses what the media type cannot carry. It runs before anything
// is written, since an answer is streamed and its status is sent first:
// once check passes, rendering only formats numbers and fails only if the
// client stops reading.
func (a answer) check() error {
	if a.media == mediaNPY {
		return nil // .npy holds any float, ±Inf and NaN included
	}
	if a.media == mediaPNG && len(a.t.Shape) != 2 {
		return &apiError{status: http.StatusNotAcceptable, code: codeNotAcceptable,
			detail: fmt.Sprintf("only a 2-D answer can be an image; this one has shape %v", a.t.Shape)}
	}
	// Finite operands can still overflow float64 (or float32) in the sums.
	i, v := nonFinite(a.t.Data)
	if a.f32 != nil {
		i, v = nonFinite(a.f32)
	}
	if i >= 0 {
		return invalidField(codeInvalidValue, "", "the output is %v at %s (its sums overflow %s), which %s cannot carry; ask for %s",
			v, indexPointer(i, a.t.Shape), a.info.dtype, a.media, mediaNPY)
	}
	return nil
}

// dense returns the answer with its values in float64, as the JSON and
// PNG encoders take them.
func (a answer) dense() tensor.Dense {
	return operand{t: a.t, f32: a.f32}.dense()
}

// render writes the answer to w.
func (a answer) render(w io.Writer) error {
	switch a.media {
	case mediaNPY:
		arr := npy.Array{DType: npy.Float64, Shape: a.t.Shape, F64: a.t.Data}
		if a.f32 != nil {
			arr = npy.Array{DType: npy.Float32, Shape: a.t.Shape, F32: a.f32}
		}
		if err := npy.Write(w, arr); err != nil {
			return fmt.Errorf("encode npy: %w", err)
		}
		return nil
	case mediaPNG:
		if err := grayimg.EncodePNG(w, a.t.Shape[0], a.t.Shape[1], a.dense().Data, a.scale); err != nil {
			return fmt.Errorf("encode png: %w", err)
		}
		return nil
	}
	return a.renderJSON(w)
}

// renderJSON writes {"output": ..., "shape": ..., "dtype": ..., "method": ...}.
func (a answer) renderJSON(w io.Writer) error {
	if _, err := io.WriteString(w, `{"output":`); err != nil {
		return err
	}
	// Formatting numbers is the costliest part of a large JSON answer; it
	// is spread over the cores, in order, byte for byte as AppendJSON, in
	// chunks that go to w as they are done.
	if err := tensor.WriteJSON(w, a.dense(), a.bits, 0); err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	b := []byte(`,"shape":[`)
	for i, d := range a.t.Shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(d), 10)
	}
	b = append(b, `],"dtype":"`...)
	b = append(b, a.info.dtype...)
	b = append(b, `","method":"`...)
	b = append(b, a.info.method...)
	_, err := w.Write(append(b, "\"}\n"...))
	return err
}

// wholeAnswerMax is the largest answer held and sent whole. Most answers
// are small, and for them a body with a Content-Length and every timing in
// the header is simplest for clients; a larger one is streamed, so that no
// copy of it is ever held whole.
const wholeAnswerMax = 64 << 10

// answerWriter sends an answer as it is rendered. It holds the first
// wholeAnswerMax bytes; an answer that fits is sent whole by finish, with
// its Content-Length, compressed if it is text worth compressing, and a
// Server-Timing header with every phase. Once an answer outgrows that, the
// header is sent with the phases known so far and Trailer: Server-Timing,
// the body streams on (through the compressor, for text), and finish sends
// the complete Server-Timing, encode included, as a trailer.
type answerWriter struct {
	w        http.ResponseWriter
	r        *http.Request
	tm       *timing
	start    time.Time // of the encode phase
	text     bool      // compressible
	held     []byte
	out      io.Writer      // once streaming: w, or zw on it
	zw       io.WriteCloser // the compressor, if any
	streamed bool
}

func newAnswerWriter(w http.ResponseWriter, r *http.Request, tm *timing, text bool) *answerWriter {
	return &answerWriter{w: w, r: r, tm: tm, start: time.Now(), text: text}
}

func (a *answerWriter) Write(p []byte) (int, error) {
	if !a.streamed && len(a.held)+len(p) <= wholeAnswerMax {
		a.held = append(a.held, p...)
		return len(p), nil
	}
	if !a.streamed {
		if err := a.startStream(); err != nil {
			return 0, err
		}
	}
	return a.out.Write(p)
}

// startStream sends the header and what is held.
func (a *answerWriter) startStream() error {
	a.streamed = true
	a.out = a.w
	h := a.w.Header()
	if c, ok := negotiateCoding(a.r); a.text && ok {
		if zw, err := c.newWriter(a.w); err == nil {
			a.zw, a.out = zw, zw
			h.Set("Content-Encoding", c.name)
		}
	}
	h.Set("Server-Timing", a.tm.header())
	h.Set("Trailer", "Server-Timing")
	a.w.WriteHeader(http.StatusOK)
	held := a.held
	a.held = nil
	_, err := a.out.Write(held)
	return err
}

// finish completes the answer: it sends a held answer whole, or ends a
// streamed one with its trailer.
func (a *answerWriter) finish() {
	h := a.w.Header()
	if !a.streamed {
		body, enc := a.held, ""
		if a.text {
			body, enc = compressBody(a.r, body)
		}
		a.tm.add("encode", time.Since(a.start))
		if enc != "" {
			h.Set("Content-Encoding", enc)
		}
		h.Set("Server-Timing", a.tm.header())
		h.Set("Content-Length", strconv.Itoa(len(body)))
		a.w.WriteHeader(http.StatusOK)
		_, _ = a.w.Write(body) // a client that left cannot be told
		return
	}
	if a.zw != nil {
		_ = a.zw.Close() // flushes the rest; a client that left cannot be told
	}
	a.tm.add("encode", time.Since(a.start))
	h.Set("Server-Timing", a.tm.header()) // declared a trailer: sent after the body
}

// timing collects the phases of a request for its Server-Timing header.
type timing struct {
	names, descs []string
	durs         []time.Duration
}

func (t *timing) add(name string, d time.Duration) { t.addDesc(name, d, "") }

func (t *timing) addDesc(name string, d time.Duration, desc string) {
	t.names = append(t.names, name)
	t.durs = append(t.durs, d)
	t.descs = append(t.descs, desc)
}

func (t *timing) header() string {
	var b strings.Builder
	for i, name := range t.names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s;dur=%.3f", name, float64(t.durs[i].Microseconds())/1000)
		if t.descs[i] != "" {
			fmt.Fprintf(&b, ";desc=%q", t.descs[i])
		}
	}
	return b.String()
}
