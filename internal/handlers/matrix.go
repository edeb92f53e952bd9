package handlers

import (
	"math"
	"strconv"

	"github.com/corr2d/corr2d/internal/engine"
)

// parseMatrix reads a JSON array of equal-length rows of numbers straight
// into a flat row-major buffer, naming any fault by its JSON pointer under
// ptr. raw has already passed the JSON syntax check, so only the shape and
// the values are in question. maxElems bounds rows×cols (0: no bound).
func parseMatrix(raw []byte, ptr, limit string, maxElems int) (engine.Matrix[float64], error) {
	p := matrixParser{b: raw}
	var m engine.Matrix[float64]
	if len(raw) == 0 || string(raw) == "null" {
		return m, invalidField(codeInvalidValue, ptr, "is required")
	}
	p.ws()
	if !p.eat('[') {
		return m, invalidField(codeInvalidShape, ptr, "must be an array of rows of numbers")
	}
	p.ws()
	if p.eat(']') {
		return m, invalidField(codeInvalidShape, ptr, "must have at least one row")
	}
	for {
		rowPtr := ptr + "/" + strconv.Itoa(m.Rows)
		p.ws()
		if !p.eat('[') {
			return m, invalidField(codeInvalidShape, rowPtr, "must be an array of numbers")
		}
		n := 0
		p.ws()
		if !p.eat(']') {
			for {
				p.ws()
				start := p.i
				p.number()
				if p.i == start {
					return m, invalidField(codeInvalidValue, rowPtr+"/"+strconv.Itoa(n), "must be a number")
				}
				v, err := strconv.ParseFloat(string(p.b[start:p.i]), 64)
				if err != nil || math.IsInf(v, 0) {
					return m, invalidField(codeInvalidValue, rowPtr+"/"+strconv.Itoa(n), "%s is outside the range of float64", p.b[start:p.i])
				}
				if maxElems > 0 && len(m.Data) >= maxElems {
					return m, tooLarge(limit, ptr, "has more than %d elements", maxElems)
				}
				m.Data = append(m.Data, v)
				n++
				p.ws()
				if p.eat(']') {
					break
				}
				if !p.eat(',') {
					return m, invalidField(codeInvalidValue, rowPtr+"/"+strconv.Itoa(n), "must be a number")
				}
			}
		}
		if n == 0 {
			return m, invalidField(codeInvalidShape, rowPtr, "must have at least one number")
		}
		if m.Rows == 0 {
			m.Cols = n
		} else if n != m.Cols {
			return m, invalidField(codeInvalidShape, rowPtr, "has %d numbers but row 0 has %d; rows must be equal length", n, m.Cols)
		}
		m.Rows++
		p.ws()
		if p.eat(']') {
			return m, nil
		}
		p.eat(',')
	}
}

// matrixParser walks syntactically valid JSON.
type matrixParser struct {
	b []byte
	i int
}

func (p *matrixParser) ws() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *matrixParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// number advances over a JSON number, if one starts here.
func (p *matrixParser) number() {
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			p.i++
		default:
			return
		}
	}
}

// rows turns a flat matrix into nested rows.
func rows(m engine.Matrix[float64]) [][]float64 {
	out := make([][]float64, m.Rows)
	for i := range out {
		out[i] = m.Data[i*m.Cols : (i+1)*m.Cols : (i+1)*m.Cols]
	}
	return out
}

// appendMatrix writes m as JSON rows, each number in the shortest form that
// reads back to the same float64, formatted as encoding/json does.
func appendMatrix(b []byte, m engine.Matrix[float64]) []byte {
	b = append(b, '[')
	for i := 0; i < m.Rows; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j, v := range m.Data[i*m.Cols : (i+1)*m.Cols] {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendFloat(b, v)
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

// appendFloat uses plain notation for ordinary magnitudes and exponent
// notation for very large or small ones, like encoding/json.
func appendFloat(b []byte, v float64) []byte {
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		n := len(b)
		b = strconv.AppendFloat(b, v, 'e', -1, 64)
		// Shorten e-07 to e-7, as encoding/json does.
		if m := len(b); m-n >= 4 && b[m-4] == 'e' && b[m-3] == '-' && b[m-2] == '0' {
			b[m-2] = b[m-1]
			b = b[:m-1]
		}
		return b
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}
