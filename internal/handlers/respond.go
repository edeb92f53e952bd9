package handlers

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/corr2d/corr2d/internal/engine"
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

// encodeTensor renders t in the negotiated media type. bits is the
// precision of the values (32 or 64).
// answerInfo is what a JSON answer says besides the output.
type answerInfo struct {
	dtype, method string
}

func encodeTensor(media string, t tensor.Dense, bits int, info answerInfo, sc grayimg.Scale) ([]byte, error) {
	switch media {
	case mediaNPY:
		a := npy.Array{DType: npy.Float64, Shape: t.Shape, F64: t.Data}
		if bits == 32 {
			a = npy.Array{DType: npy.Float32, Shape: t.Shape, F32: engine.Convert[float32](t.Data)}
		}
		var buf bytes.Buffer
		if err := npy.Write(&buf, a); err != nil {
			return nil, fmt.Errorf("encode npy: %w", err)
		}
		return buf.Bytes(), nil
	case mediaPNG:
		if len(t.Shape) != 2 {
			return nil, &apiError{status: http.StatusNotAcceptable, code: codeNotAcceptable,
				detail: fmt.Sprintf("only a 2-D answer can be an image; this one has shape %v", t.Shape)}
		}
		var buf bytes.Buffer
		if err := grayimg.EncodePNG(&buf, t.Shape[0], t.Shape[1], t.Data, sc); err != nil {
			return nil, fmt.Errorf("encode png: %w", err)
		}
		return buf.Bytes(), nil
	}
	b := make([]byte, 0, 64+len(t.Data)*24)
	b = append(b, `{"output":`...)
	// Formatting numbers is the costliest part of a large JSON answer; it
	// is spread over the cores, in order, byte for byte as AppendJSON.
	b = tensor.AppendJSONParallel(b, t, bits, 0)
	b = append(b, `,"shape":[`...)
	for i, d := range t.Shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(d), 10)
	}
	b = append(b, `],"dtype":"`...)
	b = append(b, info.dtype...)
	b = append(b, `","method":"`...)
	b = append(b, info.method...)
	return append(b, "\"}\n"...), nil
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
