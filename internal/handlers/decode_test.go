package handlers

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// decodeLimits are small, so that the fuzzer reaches them.
func decodeLimits() Limits {
	return Limits{MaxBodyBytes: 1 << 16, MaxElements: 40, MaxKernelElements: 9, MaxWork: 1 << 20, MaxSteps: 10}
}

// decodeCase is one way of decoding a body: a request type and its tensors.
type decodeCase struct {
	name  string
	body  func() tensorBody
	specs func(*Server) map[string]partSpec
	names []string
}

var decodeCases = []decodeCase{
	{"corr2d", func() tensorBody { return &corr2dRequest{} }, (*Server).corr2dParts, []string{"input", "kernel"}},
	{"train", func() tensorBody { return &trainRequest{} }, (*Server).trainParts, []string{"input", "target"}},
}

// checkDecodeStream holds decodeStream, reading tensors as they stream in
// through the given window and reads of the given size, to decodeStream
// reading the body from memory as a params part, with the tensors taken
// raw and then parsed by jsonOperands: the same problem, or the same
// operands and fields.
func checkDecodeStream(t *testing.T, body []byte, window, piece int) {
	t.Helper()
	s := &Server{cfg: Config{Limits: decodeLimits()}}
	for _, c := range decodeCases {
		specs := c.specs(s)
		want := c.body()
		wantOps := map[string]operand{}
		// A copy: encoding/json may write a RawMessage over the raw value
		// it held, in the body.
		n := int64(len(body))
		_, werr := decodeStream(bytes.NewReader(slices.Clone(body)), n, windowFor(n), want, nil, nil)
		if werr == nil {
			raws := want.tensorFields()
			var named []namedRaw
			for _, name := range c.names {
				named = append(named, namedRaw{name, *raws[name]})
			}
			werr = s.jsonOperands(wantOps, specs, named)
		}
		for _, size := range []int64{0, int64(len(body))} {
			got := c.body()
			r := &slowReader{b: body, size: piece}
			gotOps, gerr := decodeStream(r, size, window, got, specs, c.names)
			where := func() string {
				return c.name + " body " + strings.ToValidUTF8(string(body[:min(len(body), 300)]), "?")
			}
			if werr != nil || gerr != nil {
				if gerr == nil || werr == nil || *classify(gerr) != *classify(werr) {
					t.Fatalf("%s: decodeStream = %v, reading it whole gives %v", where(), gerr, werr)
				}
				continue
			}
			// The tensors the stream read are not kept raw.
			ignore := cmpopts.IgnoreFields(corr2dRequest{}, "Input", "Kernel")
			ignoreTrain := cmpopts.IgnoreFields(trainRequest{}, "Input", "Target")
			if diff := cmp.Diff(want, got, ignore, ignoreTrain, cmp.AllowUnexported(corr2dRequest{}, trainRequest{}, convParams{}, scaleParams{})); diff != "" {
				t.Fatalf("%s: fields differ (-whole +stream):\n%s", where(), diff)
			}
			for _, name := range c.names {
				w, g := wantOps[name].t, gotOps[name].t
				if !slices.Equal(w.Shape, g.Shape) || !slices.EqualFunc(w.Data, g.Data, func(a, b float64) bool {
					return math.Float64bits(a) == math.Float64bits(b)
				}) {
					t.Fatalf("%s: %s is %v, reading it whole gives %v", where(), name, g, w)
				}
			}
		}
	}
}

// slowReader hands out its bytes size at a time.
type slowReader struct {
	b    []byte
	size int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.size)], r.b)
	r.b = r.b[n:]
	return n, nil
}

var decodeSeeds = []string{
	`{"input": [[0,1,2],[3,4,5],[6,7,8]], "kernel": [[0,1],[2,3]]}`,
	`{"input": [[1,1,0,0],[1,1,0,0]], "target": [[0,1,0],[0,1,0]], "kernel_size": [1,2], "steps": 2, "init": [[1, 2]]}`,
	`{"input": [[1]], "kernel": [[1]], "x": 1}`, `{"input": [[1],[2,3]]}`, `{`, `[]`, `null`, ``, ` `,
	`{"input": [[1]], "target": [[1]], "kernel_size": [1,1], "lr": -1, "seed": 3}`,
	`{"kernel": [[1, 2]], "input": null}`, `{"input": nul}`, `{"INPUT": [[1]], "input": [[2, 3]], "kernel": [[1]]}`,
	`{"input": [[1, 2]], "Input": null, "kernel": [[1]]}`, `{"input": [[1, 2]], "input": [[1]]}`,
	`{"input": [[1, 2], [3]], "kernel": [[1]], "stride": "x"}`, `{"input": [[1, 2], [3]], "kernel": [[1]]} x`,
	`{"input": [[1, "x"]], "kernel": [[1]], "padding": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	`{"input": [[[[[1]]]]], "kernel": [[1]]}`, `{"input": [[1e999]], "kernel": [[1]]}`, `{"input": 5, "kernel": {"a": [1,}}`,
	`{"input": [` + strings.Repeat("[1,2,3,4,5],", 9) + `[1,2,3,4,5]], "kernel": [[1,2,3],[4,5,6],[7,8,9]]}`,
	`{"input": [[1, 2]], "kernel": [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]]}`,
	`{"input": [[1]] , "kernel" : [ [ 1 ] ] , "dtype": "float32", "operation": "convolve", "bias": [0.5]}`,
	`{"input": [[1]], "kernel": [[1]], "optimizer": {"name": "sgd", "lr": 1}}`,
}

func TestStreamedTensorsAgreeWithParams(t *testing.T) {
	for _, body := range decodeSeeds {
		for _, window := range []int{16, 40, 1 << 16} {
			for _, piece := range []int{1, 5, 1 << 16} {
				checkDecodeStream(t, []byte(body), window, piece)
			}
		}
	}
}

// A body that is longer or shorter than it says is refused as when it was
// read whole.
func TestDeclaredBodyLengths(t *testing.T) {
	const body = `{"input": [[1]], "kernel": [[1]]}`
	for _, tt := range []struct {
		declared int64
		want     string
	}{
		{int64(len(body)), ""},
		{int64(len(body)) - 1, "longer than its Content-Length"},
		{int64(len(body)) + 1, "unexpected EOF"},
	} {
		s := &Server{cfg: Config{Limits: DefaultLimits()}}
		r := &declaredBody{r: strings.NewReader(body), left: tt.declared}
		_, err := decodeStream(r, tt.declared, 64, &corr2dRequest{}, s.corr2dParts(), []string{"input", "kernel"})
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("declared %d: %v, want %q", tt.declared, err, tt.want)
		}
	}
}

// The body limit applies as the body streams: the rest is not read.
func TestTheBodyLimitAppliesWhileStreaming(t *testing.T) {
	body := `{"input": [[` + strings.Repeat("1,", 5000) + `1]], "kernel": [[1]]}`
	limit := int64(1000)
	read := &countingReader{r: strings.NewReader(body)}
	r := http.MaxBytesReader(nil, io.NopCloser(read), limit)
	s := &Server{cfg: Config{Limits: DefaultLimits()}}
	_, err := decodeStream(r, 0, 256, &corr2dRequest{}, s.corr2dParts(), []string{"input", "kernel"})
	if ae := classify(err); err == nil || ae.status != http.StatusRequestEntityTooLarge || ae.limit != "max_body_bytes" {
		t.Fatalf("err = %v, want a 413 naming max_body_bytes", err)
	}
	if read.n > 2*limit {
		t.Errorf("read %d bytes of a body limited to %d", read.n, limit)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func FuzzDecodeBody(f *testing.F) {
	for _, body := range decodeSeeds {
		f.Add([]byte(body), uint8(16), uint8(3))
	}
	f.Fuzz(func(t *testing.T, body []byte, window, piece uint8) {
		checkDecodeStream(t, body, int(window), int(piece%16)+1)
	})
}
