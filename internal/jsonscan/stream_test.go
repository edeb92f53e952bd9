package jsonscan_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/jsonscan"
)

// chunks is a reader that hands out its bytes in pieces of the given
// sizes, in turn, as a connection might.
type chunks struct {
	b     []byte
	sizes []int
	n     int
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	size := 1 << 30
	if len(c.sizes) > 0 {
		size = c.sizes[c.n%len(c.sizes)]
		c.n++
	}
	n := copy(p[:min(len(p), size)], c.b)
	c.b = c.b[n:]
	return n, nil
}

// streamMembers walks doc with Stream.Object through a window of the given
// size. Members whose value is an array are partly read by the callback,
// which consumes the opening bracket and hands the rest back, as a tensor
// reader would; the others are captured.
func streamMembers(doc []byte, window int, sizes []int) ([]member, *jsonscan.SyntaxError, bool) {
	s := jsonscan.NewStream(&chunks{b: doc, sizes: sizes}, window)
	var got []member
	var values [][]byte
	fault, valid := s.Object(func(key string) jsonscan.Action {
		got = append(got, member{Key: key})
		values = append(values, nil)
		if i := s.Pos(); i < len(s.Window()) && s.Window()[i] == '[' {
			s.SetPos(i + 1)
			return jsonscan.Action{Read: true, Resume: jsonscan.Resume{Arrays: 1, State: jsonscan.AfterOpen}}
		}
		return jsonscan.Action{Capture: &values[len(values)-1]}
	})
	for i := range got {
		got[i].Value = string(values[i])
	}
	return got, fault, valid
}

// checkStream holds Stream.Object through a window of the given size, fed
// in pieces, to the same walk over doc held whole, and to encoding/json.
func checkStream(t *testing.T, doc []byte, window int, sizes []int) {
	t.Helper()
	whole, wfault, _ := members(doc)
	for i, m := range whole {
		if strings.HasPrefix(m.Value, "[") {
			whole[i].Value = "" // read by the callback, not captured
		}
	}
	got, fault, valid := streamMembers(doc, window, sizes)
	if wantValid := json.Valid(doc); valid != wantValid {
		t.Fatalf("Stream.Object(%q) says valid %v, json.Valid %v", doc, valid, wantValid)
	}
	if wfault != nil {
		if fault == nil || *fault != *wfault {
			t.Fatalf("Stream.Object(%q, window %d) = %v, held whole %v", doc, window, fault, wfault)
		}
		return
	}
	if fault != nil {
		t.Fatalf("Stream.Object(%q, window %d) = %v, held whole it passes", doc, window, fault)
	}
	if diff := cmp.Diff(whole, got); diff != "" {
		t.Fatalf("Stream.Object(%q, window %d) members differ (-whole +window):\n%s", doc, window, diff)
	}
}

func TestStreamObjectAgreesThroughAnyWindow(t *testing.T) {
	deep := strings.Repeat("[", 70) + strings.Repeat("]", 70)
	docs := append([]string{
		`{"a": [1, 2, [3, "x"]], "b": {"c": [true, null]}, "d": "` + strings.Repeat("é", 40) + `"}`,
		`{"a": ` + deep + `}`, `{"a": ` + deep + `, "a": 1}`, `{"a": 1, "a": ` + deep + `}`,
		`{"a": ` + deep[:75] + `}`, `[` + deep + `]`, `{"a": [ ], "b": [` + "\n" + `]}`,
		`{"a": 123456789012345678901234567890e-5, "b": [1e`, `{"a": [1, 2] , "b" : "` + strings.Repeat("x", 100) + `\"" }  `,
	}, corpus...)
	for _, doc := range docs {
		for _, window := range []int{1, 7, 16, 64, 1 << 16} {
			for _, sizes := range [][]int{nil, {1}, {3, 1, 8}} {
				checkStream(t, []byte(doc), window, sizes)
				checkStream(t, append(append([]byte(`{"k": `), doc...), '}'), window, sizes)
			}
		}
	}
}

// A read error ends the walk and is reported as it is.
func TestStreamReportsReadErrors(t *testing.T) {
	boom := errors.New("boom")
	s := jsonscan.NewStream(io.MultiReader(strings.NewReader(`{"a": [1, 2`), iotestErr{boom}), 16)
	// What Object returns is of no use after a read error; Err says why.
	_, _ = s.Object(func(string) jsonscan.Action { return jsonscan.Action{} })
	if !errors.Is(s.Err(), boom) {
		t.Fatalf("Err() = %v, want %v", s.Err(), boom)
	}
}

type iotestErr struct{ err error }

func (r iotestErr) Read([]byte) (int, error) { return 0, r.err }

func FuzzStreamObject(f *testing.F) {
	for _, doc := range corpus {
		f.Add([]byte(doc), uint8(16), uint8(3))
	}
	f.Add([]byte(`{"input": [[1, 2], [3, 4]], "kernel": [[1]], "x": {"y": [null]}}`), uint8(5), uint8(2))
	f.Fuzz(func(t *testing.T, doc []byte, window, chunk uint8) {
		sizes := []int{int(chunk%16) + 1, 1}
		checkStream(t, doc, int(window), sizes)
		checkStream(t, append(append([]byte(`{"k": `), doc...), '}'), int(window), sizes)
	})
}

// endless is a reader of head and then of fill forever, counting what it
// hands out: a hostile client's body.
type endless struct {
	head []byte
	fill byte
	read int64
}

func (e *endless) Read(p []byte) (int, error) {
	n := copy(p, e.head)
	e.head = e.head[n:]
	for i := n; i < len(p); i++ {
		p[i] = e.fill
	}
	e.read += int64(len(p))
	return len(p), nil
}

// TestStreamStopsAtItsLimits holds the limits to their word: a captured
// value or a token over its limit ends the text with a *TooLargeError that
// names the member, as soon as it is seen to be over, having read no more
// than the window beyond the limit.
func TestStreamStopsAtItsLimits(t *testing.T) {
	const limit = 64 << 10
	capture := func(string) jsonscan.Action {
		var v []byte
		return jsonscan.Action{Capture: &v, Limit: limit}
	}
	tests := []struct {
		name   string
		head   string
		fill   byte
		action func(string) jsonscan.Action
		want   jsonscan.TooLargeError
	}{
		{"an endless string", `{"a": 1, "operation": "`, 'x', capture,
			jsonscan.TooLargeError{Member: "operation", InMember: true, Offset: 22, Limit: limit}},
		{"an endless array of small numbers", `{"padding": [`, ' ', capture,
			jsonscan.TooLargeError{Member: "padding", InMember: true, Offset: 12, Limit: limit}},
		{"an endless key", `{"a": 1, "`, 'k', capture,
			jsonscan.TooLargeError{Token: true, Offset: 9, Limit: limit}},
		{"an endless string nobody captures", `{"x": "`, 'x', func(string) jsonscan.Action { return jsonscan.Action{} },
			jsonscan.TooLargeError{Member: "x", InMember: true, Token: true, Offset: 6, Limit: limit}},
	}
	for _, tt := range tests {
		for _, window := range []int{16, 4 << 10, 1 << 20} {
			t.Run(fmt.Sprintf("%s/window=%d", tt.name, window), func(t *testing.T) {
				r := &endless{head: []byte(tt.head), fill: tt.fill}
				s := jsonscan.NewStream(r, window)
				s.SetMaxToken(limit)
				_, _ = s.Object(tt.action)
				var got *jsonscan.TooLargeError
				if !errors.As(s.Err(), &got) {
					t.Fatalf("Err() = %v, want a *TooLargeError", s.Err())
				}
				if *got != tt.want {
					t.Errorf("Err() = %+v, want %+v", *got, tt.want)
				}
				if most := int64(limit + 2*max(window, limit)); r.read > most {
					t.Errorf("read %d bytes, want at most %d", r.read, most)
				}
			})
		}
	}
}

// TestStreamLimitsValuesHeldWhole checks the limits on text that fits in
// the window, and that values within them pass.
func TestStreamLimitsValuesHeldWhole(t *testing.T) {
	const limit = 100
	long := `"` + strings.Repeat("x", limit) + `"`
	for _, tt := range []struct {
		doc  string
		want *jsonscan.TooLargeError // nil: no error
	}{
		{`{"a": [` + strings.Repeat("1,", 48) + `1]}`, nil}, // 99 bytes
		{`{"a": [` + strings.Repeat("1,", 50) + `1]}`, &jsonscan.TooLargeError{Member: "a", InMember: true, Offset: 6, Limit: limit}},
		{`{"a": ` + long + `}`, &jsonscan.TooLargeError{Member: "a", InMember: true, Token: true, Offset: 6, Limit: limit}},
		{`{"a": {"b": ` + long + `}}`, &jsonscan.TooLargeError{Member: "a", InMember: true, Token: true, Offset: 12, Limit: limit}},
		{`{` + long + `: 1}`, &jsonscan.TooLargeError{Token: true, Offset: 1, Limit: limit}},
	} {
		s := jsonscan.FromBytes([]byte(tt.doc))
		s.SetMaxToken(limit)
		fault, _ := s.Object(func(string) jsonscan.Action {
			var v []byte
			return jsonscan.Action{Capture: &v, Limit: limit}
		})
		var got *jsonscan.TooLargeError
		errors.As(s.Err(), &got)
		switch {
		case tt.want == nil && (s.Err() != nil || fault != nil):
			t.Errorf("Object(%.40q…) = %v, Err() = %v; want neither", tt.doc, fault, s.Err())
		case tt.want != nil && (got == nil || *got != *tt.want):
			t.Errorf("Object(%.40q…): Err() = %v, want %+v", tt.doc, s.Err(), *tt.want)
		}
	}
}
