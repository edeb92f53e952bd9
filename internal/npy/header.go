package npy

import (
	"fmt"
	"strconv"
)

// The header is a Python dict literal that NumPy reads with
// ast.literal_eval. This file parses the subset of Python literal syntax
// that can occur in it: strings, integers, True, False, None, tuples, lists
// and dicts, with any whitespace between tokens and trailing commas. It is
// a tokenizer plus a recursive-descent parser rather than pattern matching
// so that key order, spacing and nesting are handled the way Python handles
// them, and anything else is rejected with the byte offset at fault.

// maxDepth bounds the nesting of brackets. A valid header nests two deep
// (the dict and the shape tuple); structured dtypes add a few more levels.
const maxDepth = 32

type tokKind int

const (
	tokEOF tokKind = iota
	tokString
	tokInt
	tokTrue
	tokFalse
	tokNone
	tokLBrace
	tokRBrace
	tokLParen
	tokRParen
	tokLBracket
	tokRBracket
	tokColon
	tokComma
)

func (k tokKind) String() string {
	switch k {
	case tokEOF:
		return "end of header"
	case tokString:
		return "string"
	case tokInt:
		return "integer"
	case tokTrue:
		return "True"
	case tokFalse:
		return "False"
	case tokNone:
		return "None"
	case tokLBrace:
		return "'{'"
	case tokRBrace:
		return "'}'"
	case tokLParen:
		return "'('"
	case tokRParen:
		return "')'"
	case tokLBracket:
		return "'['"
	case tokRBracket:
		return "']'"
	case tokColon:
		return "':'"
	case tokComma:
		return "','"
	default:
		return fmt.Sprintf("token(%d)", int(k))
	}
}

type token struct {
	kind tokKind
	pos  int
	str  string // tokString: the decoded string
	num  int    // tokInt: the value, if !big
	big  bool   // tokInt: the magnitude does not fit in int
	neg  bool   // tokInt: negative, which matters when big
}

type valKind int

const (
	valString valKind = iota
	valInt
	valBool
	valNone
	valTuple
	valList
	valDict
)

func (k valKind) String() string {
	return [...]string{"a string", "an integer", "a bool", "None", "a tuple", "a list", "a dict"}[k]
}

// value is a parsed Python literal.
type value struct {
	kind  valKind
	pos   int
	str   string
	num   int
	big   bool
	neg   bool
	b     bool
	items []value // tuple and list elements; dict keys and values alternating
}

// lexer splits a header into tokens.
type lexer struct {
	s   []byte
	pos int
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isNameByte(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c)
}

func (l *lexer) errorf(pos int, format string, args ...any) error {
	return fmt.Errorf("%w: header at byte %d: %s", ErrFormat, pos, fmt.Sprintf(format, args...))
}

func (l *lexer) next() (token, error) {
	for l.pos < len(l.s) && isSpace(l.s[l.pos]) {
		l.pos++
	}
	start := l.pos
	if l.pos == len(l.s) {
		return token{kind: tokEOF, pos: start}, nil
	}
	c := l.s[l.pos]
	switch c {
	case '{':
		l.pos++
		return token{kind: tokLBrace, pos: start}, nil
	case '}':
		l.pos++
		return token{kind: tokRBrace, pos: start}, nil
	case '(':
		l.pos++
		return token{kind: tokLParen, pos: start}, nil
	case ')':
		l.pos++
		return token{kind: tokRParen, pos: start}, nil
	case '[':
		l.pos++
		return token{kind: tokLBracket, pos: start}, nil
	case ']':
		l.pos++
		return token{kind: tokRBracket, pos: start}, nil
	case ':':
		l.pos++
		return token{kind: tokColon, pos: start}, nil
	case ',':
		l.pos++
		return token{kind: tokComma, pos: start}, nil
	case '\'', '"':
		return l.string()
	case '-', '+':
		return l.integer()
	}
	if isDigit(c) {
		return l.integer()
	}
	if isNameByte(c) {
		for l.pos < len(l.s) && isNameByte(l.s[l.pos]) {
			l.pos++
		}
		switch name := string(l.s[start:l.pos]); name {
		case "True":
			return token{kind: tokTrue, pos: start}, nil
		case "False":
			return token{kind: tokFalse, pos: start}, nil
		case "None":
			return token{kind: tokNone, pos: start}, nil
		default:
			return token{}, l.errorf(start, "unexpected name %s", quote(name))
		}
	}
	return token{}, l.errorf(start, "unexpected character %q", c)
}

// string scans a single- or double-quoted string. Only the escapes that
// Python's repr can produce for ASCII text are accepted; NumPy writes
// dtype descrs and key names, which need none of them.
func (l *lexer) string() (token, error) {
	start := l.pos
	q := l.s[l.pos]
	l.pos++
	var out []byte
	for {
		if l.pos >= len(l.s) {
			return token{}, l.errorf(start, "unterminated string")
		}
		c := l.s[l.pos]
		switch c {
		case q:
			l.pos++
			return token{kind: tokString, pos: start, str: string(out)}, nil
		case '\n', '\r':
			return token{}, l.errorf(start, "unterminated string")
		case '\\':
			if l.pos+1 >= len(l.s) {
				return token{}, l.errorf(start, "unterminated string")
			}
			switch e := l.s[l.pos+1]; e {
			case '\\', '\'', '"':
				out = append(out, e)
			case 'n':
				out = append(out, '\n')
			case 't':
				out = append(out, '\t')
			default:
				return token{}, l.errorf(l.pos, "unsupported escape \\%c in string", e)
			}
			l.pos += 2
		default:
			out = append(out, c)
			l.pos++
		}
	}
}

// integer scans an optionally signed decimal integer. Python allows
// whitespace between a unary sign and its operand; NumPy's Python 2 writers
// appended an L to long integers, which NumPy itself still accepts.
func (l *lexer) integer() (token, error) {
	start := l.pos
	neg := false
	if c := l.s[l.pos]; c == '-' || c == '+' {
		neg = c == '-'
		l.pos++
		for l.pos < len(l.s) && isSpace(l.s[l.pos]) {
			l.pos++
		}
	}
	digits := l.pos
	for l.pos < len(l.s) && isDigit(l.s[l.pos]) {
		l.pos++
	}
	if l.pos == digits {
		return token{}, l.errorf(start, "sign without a number")
	}
	text := l.s[digits:l.pos]
	if len(text) > 1 && text[0] == '0' {
		// Python 3 rejects leading zeros as ambiguous with old octal.
		return token{}, l.errorf(start, "integer with leading zero")
	}
	if l.pos < len(l.s) && (l.s[l.pos] == 'L' || l.s[l.pos] == 'l') {
		l.pos++
	}
	if l.pos < len(l.s) && isNameByte(l.s[l.pos]) {
		return token{}, l.errorf(start, "malformed integer")
	}
	t := token{kind: tokInt, pos: start, neg: neg}
	n, err := strconv.ParseUint(string(text), 10, 63)
	if err != nil {
		// Only a range error is possible here: text is all digits.
		t.big = true
		return t, nil //nolint:nilerr // the range error is recorded as t.big
	}
	t.num = int(n)
	if neg {
		t.num = -t.num
	}
	return t, nil
}

// parser builds values from tokens with one token of lookahead.
type parser struct {
	lex    lexer
	peeked *token
}

func (p *parser) next() (token, error) {
	if p.peeked != nil {
		t := *p.peeked
		p.peeked = nil
		return t, nil
	}
	return p.lex.next()
}

func (p *parser) peek() (token, error) {
	if p.peeked == nil {
		t, err := p.lex.next()
		if err != nil {
			return token{}, err
		}
		p.peeked = &t
	}
	return *p.peeked, nil
}

func (p *parser) value(depth int) (value, error) {
	t, err := p.next()
	if err != nil {
		return value{}, err
	}
	switch t.kind {
	case tokString:
		return value{kind: valString, pos: t.pos, str: t.str}, nil
	case tokInt:
		return value{kind: valInt, pos: t.pos, num: t.num, big: t.big, neg: t.neg}, nil
	case tokTrue, tokFalse:
		return value{kind: valBool, pos: t.pos, b: t.kind == tokTrue}, nil
	case tokNone:
		return value{kind: valNone, pos: t.pos}, nil
	case tokLParen, tokLBracket, tokLBrace:
		if depth >= maxDepth {
			return value{}, p.lex.errorf(t.pos, "brackets nested more than %d deep", maxDepth)
		}
	default:
		return value{}, p.lex.errorf(t.pos, "unexpected %v", t.kind)
	}
	if t.kind == tokLBrace {
		return p.dict(t.pos, depth+1)
	}
	closer := tokRParen
	if t.kind == tokLBracket {
		closer = tokRBracket
	}
	items, commas, err := p.sequence(closer, depth+1)
	if err != nil {
		return value{}, err
	}
	if t.kind == tokLBracket {
		return value{kind: valList, pos: t.pos, items: items}, nil
	}
	if len(items) == 1 && !commas {
		// In Python "(3)" is the integer 3, not a tuple: only a comma
		// makes a one-element tuple.
		return items[0], nil
	}
	return value{kind: valTuple, pos: t.pos, items: items}, nil
}

// sequence parses comma-separated values up to and including closer,
// reporting whether any comma was seen.
func (p *parser) sequence(closer tokKind, depth int) ([]value, bool, error) {
	var items []value
	commas := false
	for {
		t, err := p.peek()
		if err != nil {
			return nil, false, err
		}
		if t.kind == closer {
			_, _ = p.next()
			return items, commas, nil
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, false, err
		}
		items = append(items, v)
		t, err = p.next()
		if err != nil {
			return nil, false, err
		}
		switch t.kind {
		case tokComma:
			commas = true
		case closer:
			return items, commas, nil
		default:
			return nil, false, p.lex.errorf(t.pos, "expected ',' or %v, found %v", closer, t.kind)
		}
	}
}

func (p *parser) dict(pos, depth int) (value, error) {
	d := value{kind: valDict, pos: pos}
	for {
		t, err := p.peek()
		if err != nil {
			return value{}, err
		}
		if t.kind == tokRBrace {
			_, _ = p.next()
			return d, nil
		}
		k, err := p.value(depth)
		if err != nil {
			return value{}, err
		}
		if t, err = p.next(); err != nil {
			return value{}, err
		} else if t.kind != tokColon {
			return value{}, p.lex.errorf(t.pos, "expected ':', found %v", t.kind)
		}
		v, err := p.value(depth)
		if err != nil {
			return value{}, err
		}
		d.items = append(d.items, k, v)
		t, err = p.next()
		if err != nil {
			return value{}, err
		}
		switch t.kind {
		case tokComma:
		case tokRBrace:
			return d, nil
		default:
			return value{}, p.lex.errorf(t.pos, "expected ',' or '}', found %v", t.kind)
		}
	}
}

// parseLiteral parses s as exactly one Python literal surrounded by
// optional whitespace.
func parseLiteral(s []byte) (value, error) {
	p := parser{lex: lexer{s: s}}
	v, err := p.value(0)
	if err != nil {
		return value{}, err
	}
	t, err := p.next()
	if err != nil {
		return value{}, err
	}
	if t.kind != tokEOF {
		return value{}, p.lex.errorf(t.pos, "unexpected %v after the dict", t.kind)
	}
	return v, nil
}

// header is the validated content of a .npy header.
type header struct {
	dtype DType
	shape []int
	n     int // product of shape
}

// quote formats s for an error message, shortened so that a hostile header
// cannot make the message as long as the header.
func quote(s string) string {
	const max = 40
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// parseHeader parses and validates the header dict (without the trailing
// newline check, which the caller does) against lim.
func parseHeader(s []byte, lim Limits) (header, error) {
	v, err := parseLiteral(s)
	if err != nil {
		return header{}, err
	}
	if v.kind != valDict {
		return header{}, fmt.Errorf("%w: header is %v, want a dict", ErrFormat, v.kind)
	}
	var descr, fortran, shape *value
	for i := 0; i < len(v.items); i += 2 {
		k, val := v.items[i], &v.items[i+1]
		if k.kind != valString {
			return header{}, fmt.Errorf("%w: header key at byte %d is %v, want a string", ErrFormat, k.pos, k.kind)
		}
		var slot **value
		switch k.str {
		case "descr":
			slot = &descr
		case "fortran_order":
			slot = &fortran
		case "shape":
			slot = &shape
		default:
			return header{}, fmt.Errorf("%w: header has unknown key %s", ErrFormat, quote(k.str))
		}
		if *slot != nil {
			return header{}, fmt.Errorf("%w: header has key %s twice", ErrFormat, quote(k.str))
		}
		*slot = val
	}
	for _, m := range []struct {
		v    *value
		name string
	}{{descr, "descr"}, {fortran, "fortran_order"}, {shape, "shape"}} {
		if m.v == nil {
			return header{}, fmt.Errorf("%w: header lacks key '%s'", ErrFormat, m.name)
		}
	}

	var h header
	if h.dtype, err = parseDescr(*descr); err != nil {
		return header{}, err
	}
	if fortran.kind != valBool {
		return header{}, fmt.Errorf("%w: fortran_order is %v, want True or False", ErrFormat, fortran.kind)
	}
	if fortran.b {
		return header{}, fmt.Errorf("%w: fortran_order is True; send the array in C order", ErrUnsupported)
	}
	if h.shape, h.n, err = parseShape(*shape, lim); err != nil {
		return header{}, err
	}
	return h, nil
}

// parseDescr accepts exactly '<f4' and '<f8'. NumPy always writes an
// explicit byte order for multi-byte types ('<' or '>'), so '=' (native
// order) and no order at all can only come from other writers, and they
// leave the byte order to whatever machine wrote the file; guessing would
// silently corrupt data, so both are rejected.
func parseDescr(v value) (DType, error) {
	switch v.kind {
	case valString:
	case valList:
		return 0, fmt.Errorf("%w: structured dtype; want '<f4' or '<f8'", ErrUnsupported)
	default:
		return 0, fmt.Errorf("%w: descr is %v, want a string", ErrFormat, v.kind)
	}
	switch d := v.str; d {
	case "<f4":
		return Float32, nil
	case "<f8":
		return Float64, nil
	case ">f4", ">f8":
		return 0, fmt.Errorf("%w: big-endian dtype %s; want little-endian '<%s'", ErrUnsupported, quote(d), d[1:])
	case "=f4", "=f8", "f4", "f8":
		return 0, fmt.Errorf("%w: dtype %s has no explicit byte order; want '<f4' or '<f8'", ErrUnsupported, quote(d))
	default:
		return 0, fmt.Errorf("%w: dtype %s; want '<f4' or '<f8'", ErrUnsupported, quote(d))
	}
}

func parseShape(v value, lim Limits) ([]int, int, error) {
	if v.kind != valTuple {
		return nil, 0, fmt.Errorf("%w: shape is %v, want a tuple", ErrFormat, v.kind)
	}
	if len(v.items) > lim.MaxRank {
		return nil, 0, fmt.Errorf("%w: rank %d exceeds the limit of %d", ErrUnsupported, len(v.items), lim.MaxRank)
	}
	shape := make([]int, len(v.items))
	for i, d := range v.items {
		switch {
		case d.kind != valInt:
			return nil, 0, fmt.Errorf("%w: shape[%d] is %v, want an integer", ErrFormat, i, d.kind)
		case d.neg && (d.big || d.num != 0):
			return nil, 0, fmt.Errorf("%w: shape[%d] is negative", ErrFormat, i)
		case d.big:
			return nil, 0, fmt.Errorf("%w: shape[%d] exceeds the limit of %d elements", ErrTooLarge, i, lim.MaxElements)
		}
		shape[i] = d.num
	}
	n, ok := shapeLen(shape, lim.MaxElements)
	if !ok {
		return nil, 0, fmt.Errorf("%w: shape %v exceeds the limit of %d elements", ErrTooLarge, shape, lim.MaxElements)
	}
	return shape, n, nil
}
