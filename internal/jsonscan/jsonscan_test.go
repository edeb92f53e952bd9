package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/jsonscan"
)

type member struct{ Key, Value string }

// members splits doc, held in memory, into its members with Stream.Object,
// capturing every value.
func members(doc []byte) ([]member, *jsonscan.SyntaxError, bool) {
	s := jsonscan.FromBytes(doc)
	var got []member
	var values [][]byte
	fault, valid := s.Object(func(key string) jsonscan.Action {
		got = append(got, member{Key: key})
		values = append(values, nil)
		return jsonscan.Action{Capture: &values[len(values)-1]}
	})
	if fault != nil {
		return nil, fault, valid
	}
	for i := range got {
		got[i].Value = string(values[i])
	}
	return got, nil, valid
}

func TestObjectSplitsMembers(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []member
	}{
		{"an empty object", `{}`, nil},
		{"an empty object with space", " \t\r\n{ \n } \n", nil},
		{"every kind of value", `{"a":1,"b":-2.5e+3,"c":"s","d":true,"e":false,"f":null,"g":[1,[2]],"h":{"x":{}}}`,
			[]member{{"a", "1"}, {"b", "-2.5e+3"}, {"c", `"s"`}, {"d", "true"}, {"e", "false"}, {"f", "null"}, {"g", "[1,[2]]"}, {"h", `{"x":{}}`}}},
		{"values without their white space", "{ \"input\" :\n [[1, 2],\n [3, 4]] , \"k\":0 }",
			[]member{{"input", "[[1, 2],\n [3, 4]]"}, {"k", "0"}}},
		{"escaped keys, decoded", `{"a\"b":1,"\u00e9":2,"\ud83d\ude00":3,"\n\t\/\\":4}`,
			[]member{{`a"b`, "1"}, {"é", "2"}, {"😀", "3"}, {"\n\t/\\", "4"}}},
		{"lone surrogates become U+FFFD", `{"\ud800":1,"\udc00x":2,"\ud800\u0041":3}`,
			[]member{{"\ufffd", "1"}, {"\ufffdx", "2"}, {"\ufffdA", "3"}}},
		{"bytes that are not UTF-8 become U+FFFD", "{\"a\xffb\":1}", []member{{"a\ufffdb", "1"}}},
		{"strings in values stay raw", `{"s":"\u00e9\"]}"}`, []member{{"s", `"\u00e9\"]}"`}}},
		{"keys that differ only in case are distinct", `{"a":1,"A":2}`, []member{{"a", "1"}, {"A", "2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !json.Valid([]byte(tt.doc)) {
				t.Fatalf("json.Valid(%q) = false; the case is wrong", tt.doc)
			}
			got, err, _ := members([]byte(tt.doc))
			if err != nil {
				t.Fatalf("Object(%q) = %v", tt.doc, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Object(%q) mismatch (-want +got):\n%s", tt.doc, diff)
			}
		})
	}
}

func TestObjectRejects(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		offset int
	}{
		{"an empty body", ``, 0},
		{"white space only", "  \n", 3},
		{"an array", `[1]`, 0},
		{"a string", `"a"`, 0},
		{"null", `null`, 0},
		{"a repeated key", `{"a":1,"b":2,"a":3}`, 13},
		{"a repeated key spelt differently", `{"é":1,"\u00e9":2}`, 8},
		{"garbage after the object", `{"a":1} x`, 8},
		{"a second object", `{} {}`, 3},
		{"a trailing comma", `{"a":1,}`, 7},
		{"a missing colon", `{"a" 1}`, 5},
		{"a missing comma", `{"a":1 "b":2}`, 7},
		{"a key that is not a string", `{a:1}`, 1},
		{"a number key", `{1:1}`, 1},
		{"a missing value", `{"a":}`, 5},
		{"an unterminated object", `{"a":1`, 6},
		{"an unterminated string", `{"a":"x}`, 8},
		{"an unterminated key", `{"a`, 3},
		{"a bad escape", `{"a":"\x"}`, 7},
		{"a short unicode escape", `{"a":"\u12"}`, 10},
		{"a control character", "{\"a\":\"\x01\"}", 6},
		{"a raw newline in a string", "{\"a\":\"\n\"}", 6},
		{"a leading zero", `{"a":01}`, 6},
		{"a plus sign", `{"a":+1}`, 5},
		{"a point with no digits", `{"a":1.}`, 7},
		{"an exponent with no digits", `{"a":1e}`, 7},
		{"a misspelt literal", `{"a":nul}`, 8},
		{"a capitalised literal", `{"a":True}`, 5},
		{"NaN", `{"a":NaN}`, 5},
		{"a trailing comma in an array", `{"a":[1,]}`, 8},
		{"a missing comma in an array", `{"a":[1 2]}`, 8},
		{"an unclosed array", `{"a":[1}`, 7},
		{"a mismatched bracket", `{"a":[1}]`, 7},
		{"single quotes", `{'a':1}`, 1},
		{"a byte order mark", "\ufeff{}", 0},
		{"too deep", `{"a":` + strings.Repeat("[", jsonscan.MaxDepth) + strings.Repeat("]", jsonscan.MaxDepth) + "}", 5 + jsonscan.MaxDepth - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err, _ := members([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Object(%q) = nil, want a fault", tt.doc)
			}
			if err.Offset != tt.offset {
				t.Errorf("Object(%q) = %v, want the fault at byte %d", tt.doc, err, tt.offset)
			}
		})
	}
}

func TestObjectDepthLimit(t *testing.T) {
	for depth := jsonscan.MaxDepth - 2; depth <= jsonscan.MaxDepth+1; depth++ {
		// The object itself is one level.
		inner := depth - 1
		doc := `{"a":` + strings.Repeat(`{"b":`, inner/2) + strings.Repeat("[", inner-inner/2) +
			strings.Repeat("]", inner-inner/2) + strings.Repeat("}", inner/2) + "}"
		_, err, _ := members([]byte(doc))
		if (err == nil) != (depth <= jsonscan.MaxDepth) {
			t.Errorf("Object(%d levels) = %v", depth, err)
		}
	}
}

// TestFromBytesLeavesTheTextAlone holds FromBytes to its word: reading,
// capturing and dropping the window never write to the caller's bytes.
func TestFromBytesLeavesTheTextAlone(t *testing.T) {
	const doc = `{"a":[1,2],"b":"x","c":{"d":[true]}}`
	body := []byte(doc)
	got, err, _ := members(body[:len(body):len(body)])
	if err != nil || len(got) != 3 || string(body) != doc {
		t.Errorf("Object = %v, %v; body now %s", got, err, body)
	}
}

func TestSkipRest(t *testing.T) {
	tests := []struct {
		doc string
		n   int
	}{
		{`1`, 1}, {` -0.5e-3 ,`, 8}, {`"a\"b" x`, 6}, {`[1,[2,{}],"]"] ]`, 14}, {`{"a":[]}}`, 8}, {"\ttrue", 5}, {`null,`, 4},
		{`01`, 1}, // the value is 0; what follows is the caller's concern
	}
	for _, tt := range tests {
		n, err := skip([]byte(tt.doc))
		if err != nil || n != tt.n {
			t.Errorf("SkipRest(%q) = %d, %v; want %d", tt.doc, n, err, tt.n)
		}
	}
	for _, doc := range []string{``, ` `, `[`, `[1,]`, `{"a"}`, `-`, `"`, `tru`, `}`, `]`} {
		if n, err := skip([]byte(doc)); err == nil {
			t.Errorf("SkipRest(%q) = %d, nil; want an error", doc, n)
		}
	}
}

// skip checks the one value at the start of doc with SkipRest, nested up
// to MaxDepth, and returns the offset past it.
func skip(doc []byte) (int, error) {
	s := jsonscan.FromBytes(doc)
	if err := s.SkipRest(jsonscan.Resume{State: jsonscan.AtValue}, jsonscan.MaxDepth); err != nil {
		return 0, err
	}
	return s.Pos(), nil
}

// TestAgreesWithEncodingJSON runs the walker over many documents and holds
// it to encoding/json: SkipRest accepts a document whole exactly when
// json.Valid does, and Object when it is also an object with distinct keys,
// with the members encoding/json finds.
func TestAgreesWithEncodingJSON(t *testing.T) {
	for _, doc := range corpus {
		checkAgainstEncodingJSON(t, []byte(doc))
		checkAgainstEncodingJSON(t, []byte(`{"k": `+doc+`}`))
	}
}

var corpus = []string{
	``, ` `, `0`, `-0`, `01`, `1.`, `.1`, `1e`, `1e5`, `1E+5`, `1e-5`, `-`, `--1`, `+1`, `1.5e3.2`, `0x1`, `Infinity`,
	`""`, `"\u"`, `"\u00"`, `"\u00e9"`, `"\uD800"`, `"\uDC00\uD800"`, `"\/"`, `"\a"`, `"\'"`, "\"\x7f\"", "\"\x1f\"", "\"\xff\xfe\"",
	`true`, `false`, `null`, `nul`, `truex`, `[]`, `[ ]`, `[,]`, `[1,]`, `[1 2]`, `[[]]`, `[[],[]]`, `[1,[2,[3]]]`, `[`,
	`{}`, `{"a":1}`, `{"a":1,"a":2}`, `{"a" : 1 , "b" : [ ] }`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{1:1}`, `{"a":1}}`,
	`{"a":{"a":{"a":1}}}`, `{"":1}`, `{"":1,"":2}`, `{"\u0041":1,"A":2}`, `{"a\u0000b":1}`, "{\"\xff\":1,\"\xfe\":2}",
	`{"a":[1,{"b":null}]}`, " {\"a\"\n:\r1\t} ", `{"a":1} x`, `{"a":1}{}`, `[1]x`, "\ufeff{}",
}

func checkAgainstEncodingJSON(t *testing.T, doc []byte) {
	t.Helper()
	valid := json.Valid(doc) && depth(doc) <= jsonscan.MaxDepth
	n, err := skip(doc)
	skipWhole := err == nil && len(bytes.TrimLeft(doc[n:], " \t\r\n")) == 0
	if skipWhole != valid {
		t.Fatalf("SkipRest(%q) = %d, %v; json.Valid says %v", doc, n, err, valid)
	}
	want, wantOK := objectMembers(doc)
	got, fault, wellFormed := members(doc)
	if wellFormed != json.Valid(doc) {
		t.Fatalf("Object(%q) says valid %v, json.Valid %v", doc, wellFormed, json.Valid(doc))
	}
	if (fault == nil) != (wantOK && valid) {
		t.Fatalf("Object(%q) = %v; encoding/json says valid %v, an object with distinct keys %v", doc, fault, valid, wantOK)
	}
	if fault == nil {
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Object(%q) mismatch (-encoding/json +got):\n%s", doc, diff)
		}
	}
}

// objectMembers decodes doc's top-level object member by member with
// encoding/json, reporting false if doc is not an object with distinct
// keys.
func objectMembers(doc []byte) ([]member, bool) {
	if !json.Valid(doc) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var out []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key := tok.(string)
		if seen[key] {
			return nil, false
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		out = append(out, member{key, string(raw)})
	}
	return out, true
}

// depth is how deeply doc's arrays and objects nest, for valid JSON.
func depth(doc []byte) int {
	dec := json.NewDecoder(bytes.NewReader(doc))
	d, most := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return most
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			d++
			most = max(most, d)
		case json.Delim(']'), json.Delim('}'):
			d--
		}
	}
}

func FuzzObject(f *testing.F) {
	for _, doc := range corpus {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkAgainstEncodingJSON(t, doc)
		wrapped := append(append([]byte(`{"k": `), doc...), '}')
		checkAgainstEncodingJSON(t, wrapped)
	})
}

func TestObjectFindsRepeatedKeysAmongMany(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 40 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strings.Repeat("x", i) + `":1`)
	}
	doc := b.String() + "}"
	if got, err, _ := members([]byte(doc)); err != nil || len(got) != 40 {
		t.Fatalf("Object(40 keys) = %d members, %v", len(got), err)
	}
	for _, dup := range []string{"k", "kxx", strings.Repeat("x", 20), "k" + strings.Repeat("x", 39)} {
		doc := b.String() + `,"` + dup + `":2}`
		_, err, _ := members([]byte(doc))
		if wantDup := strings.HasPrefix(dup, "k"); (err != nil) != wantDup {
			t.Errorf("Object(40 keys and %q) = %v", dup, err)
		}
	}
}
