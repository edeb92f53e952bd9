package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"errors"
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

// checkStream holds Stream.Object to Object and encoding/json on doc.
func checkStream(t *testing.T, doc []byte, window int, sizes []int) {
	t.Helper()
	var want []member
	werr := jsonscan.Object(doc, func(key string, value []byte) error {
		if bytes.HasPrefix(value, []byte("[")) {
			value = nil // read by the callback, not captured
		}
		want = append(want, member{key, string(value)})
		return nil
	})
	got, fault, valid := streamMembers(doc, window, sizes)
	if wantValid := json.Valid(doc); valid != wantValid {
		t.Fatalf("Stream.Object(%q) says valid %v, json.Valid %v", doc, valid, wantValid)
	}
	if werr != nil {
		var se *jsonscan.SyntaxError
		if !errors.As(werr, &se) || fault == nil || *fault != *se {
			t.Fatalf("Stream.Object(%q, window %d) = %v, Object says %v", doc, window, fault, werr)
		}
		return
	}
	if fault != nil {
		t.Fatalf("Stream.Object(%q, window %d) = %v, Object accepts it", doc, window, fault)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Stream.Object(%q, window %d) members differ (-Object +Stream):\n%s", doc, window, diff)
	}
}

func TestStreamObjectAgreesWithObject(t *testing.T) {
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
