package grayimg

import (
	"errors"
	"image/color"
	"io"
)

// rowReader reads the filtered rows of PNG image data and undoes the
// filters, keeping the previous row that they refer to.
type rowReader struct {
	r        io.Reader
	bpp      int    // bytes per complete pixel, at least 1
	cur, pre []byte // filter byte and row, sized for the widest pass
	bitsPx   int
	n        int // bytes in a row of the current pass, filter byte included
}

func newRowReader(r io.Reader, bitsPerPixel, rowBytes int) *rowReader {
	return &rowReader{
		r: r, bitsPx: bitsPerPixel, bpp: (bitsPerPixel + 7) / 8,
		cur: make([]byte, rowBytes), pre: make([]byte, rowBytes),
	}
}

// reset starts a pass of rows w pixels wide, whose first row has no row
// above it (the filters see zeros).
func (rr *rowReader) reset(w int) {
	rr.n = 1 + (rr.bitsPx*w+7)/8
	clear(rr.cur) // next moves it above the first row

}

// next reads and unfilters the next row and returns its bytes, without
// the filter byte. The row it returned last becomes the row above.
func (rr *rowReader) next() ([]byte, error) {
	rr.cur, rr.pre = rr.pre, rr.cur
	row := rr.cur[:rr.n]
	if _, err := io.ReadFull(rr.r, row); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errors.New("not enough pixel data")
		}
		return nil, err
	}
	cur, up := row[1:], rr.pre[1:rr.n]
	bpp := rr.bpp
	switch row[0] {
	case 0: // None
	case 1: // Sub
		for i := bpp; i < len(cur); i++ {
			cur[i] += cur[i-bpp]
		}
	case 2: // Up
		for i, u := range up {
			cur[i] += u
		}
	case 3: // Average
		for i := range min(bpp, len(cur)) {
			cur[i] += up[i] / 2
		}
		for i := bpp; i < len(cur); i++ {
			cur[i] += uint8((int(cur[i-bpp]) + int(up[i])) / 2)
		}
	case 4: // Paeth
		for i := range min(bpp, len(cur)) {
			cur[i] += up[i] // the predictor picks b when a = c = 0
		}
		for i := bpp; i < len(cur); i++ {
			cur[i] += paeth(cur[i-bpp], up[i], up[i-bpp])
		}
	default:
		return nil, errors.New("bad filter type")
	}
	return cur, nil
}

// paeth is the Paeth predictor of the byte with left a, above b and upper
// left c: whichever of the three is closest to a + b − c, preferring a,
// then b.
func paeth(a, b, c uint8) uint8 {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// buildLUT fills d.lut for the images whose pixels are one sample of at
// most 8 bits: gray, with its tRNS key if any, and paletted.
func (d *pngReader) buildLUT() {
	switch {
	case d.ctype == ctPaletted:
		for i, c := range d.palette {
			d.lut[i] = float64(lumaPremul(c.RGBA())) / denom
		}
	case d.ctype == ctGray && d.depth <= 8:
		// Samples of fewer bits scale to 8 as image/png scales them,
		// and so does its tRNS key, in 8-bit arithmetic.
		scale := uint8(0xff / (1<<d.depth - 1))
		key := uint8(d.trns[0]) * scale
		for s := range 1 << d.depth {
			v := uint8(s) * scale
			switch {
			case !d.hasKey:
				d.lut[s] = float64(v) / 0xff
			case v == key:
				d.lut[s] = lumaNRGBA(v, v, v, 0)
			default:
				d.lut[s] = lumaNRGBA(v, v, v, 0xff)
			}
		}
	}
}

// convert writes the luminance of the w pixels of row to out[0], out[step],
// out[2·step], ...
func (d *pngReader) convert(row []byte, w int, out []float64, step int) {
	switch {
	case d.depth < 8:
		d.convertPacked(row, w, out, step)
	case d.depth == 8 && (d.ctype == ctGray || d.ctype == ctPaletted):
		for x, s := range row[:w] {
			out[x*step] = d.lut[s]
		}
	case d.depth == 8:
		d.convert8(row, w, out, step)
	default:
		d.convert16(row, w, out, step)
	}
}

// convertPacked converts a row of samples of 1, 2 or 4 bits, packed from
// the high bits of each byte down.
func (d *pngReader) convertPacked(row []byte, w int, out []float64, step int) {
	bits := uint(d.depth)
	perByte := 8 / int(bits)
	mask := byte(1<<bits - 1)
	for x := range w {
		shift := 8 - bits*uint(x%perByte+1)
		out[x*step] = d.lut[row[x/perByte]>>shift&mask]
	}
}

// convert8 converts a row of 8-bit gray with alpha, truecolor or truecolor
// with alpha.
func (d *pngReader) convert8(row []byte, w int, out []float64, step int) {
	switch d.ctype {
	case ctGrayAlpha:
		for x := range w {
			v := row[2*x]
			out[x*step] = lumaNRGBA(v, v, v, row[2*x+1])
		}
	case ctTrueAlpha:
		for x := range w {
			p := row[4*x : 4*x+4 : 4*x+4]
			out[x*step] = lumaNRGBA(p[0], p[1], p[2], p[3])
		}
	case ctTrueColor:
		kr, kg, kb := uint8(d.trns[0]), uint8(d.trns[1]), uint8(d.trns[2])
		for x := range w {
			p := row[3*x : 3*x+3 : 3*x+3]
			switch {
			case !d.hasKey:
				out[x*step] = lumaRGBA8(p[0], p[1], p[2], 0xff)
			case p[0] == kr && p[1] == kg && p[2] == kb:
				out[x*step] = lumaNRGBA(p[0], p[1], p[2], 0)
			default:
				out[x*step] = lumaNRGBA(p[0], p[1], p[2], 0xff)
			}
		}
	}
}

// convert16 converts a row of 16-bit samples.
func (d *pngReader) convert16(row []byte, w int, out []float64, step int) {
	at := func(i int) uint16 { return uint16(row[2*i])<<8 | uint16(row[2*i+1]) }
	opaque := func(r, g, b uint16) uint16 {
		if d.hasKey && r == d.trns[0] && (d.ctype == ctGray || g == d.trns[1] && b == d.trns[2]) {
			return 0
		}
		return 0xffff
	}
	switch d.ctype {
	case ctGray:
		for x := range w {
			v := at(x)
			if d.hasKey {
				out[x*step] = lumaNRGBA64(v, v, v, opaque(v, v, v))
			} else {
				out[x*step] = float64(v) / 0xffff
			}
		}
	case ctGrayAlpha:
		for x := range w {
			v := at(2 * x)
			out[x*step] = lumaNRGBA64(v, v, v, at(2*x+1))
		}
	case ctTrueColor:
		for x := range w {
			r, g, b := at(3*x), at(3*x+1), at(3*x+2)
			if d.hasKey {
				out[x*step] = lumaNRGBA64(r, g, b, opaque(r, g, b))
			} else {
				out[x*step] = float64(lumaPremul(r32(r), r32(g), r32(b), 0xffff)) / denom
			}
		}
	case ctTrueAlpha:
		for x := range w {
			out[x*step] = lumaNRGBA64(at(4*x), at(4*x+1), at(4*x+2), at(4*x+3))
		}
	}
}

func r32(v uint16) uint32 { return uint32(v) }

// lumaNRGBA is the luminance of a straight 8-bit color over white. The
// premultiplication is exact: ×257 widens the channels to 16 bits, and
// with α = A/255 everything is scaled by 255 to stay in integers.
func lumaNRGBA(r, g, b, a uint8) float64 {
	alpha := int64(a)
	straight := 299*int64(r) + 587*int64(g) + 114*int64(b)
	num := alpha*straight*257 + 255*1000*(0xffff-257*alpha)
	return float64(num) / (255 * denom)
}

// lumaRGBA8 is the luminance of a premultiplied 8-bit color over white,
// its channels widened to 16 bits as color.RGBA's RGBA method does.
func lumaRGBA8(r, g, b, a uint8) float64 {
	return float64(lumaPremul(uint32(r)*0x101, uint32(g)*0x101, uint32(b)*0x101, uint32(a)*0x101)) / denom
}

// lumaNRGBA64 is the luminance of a straight 16-bit color over white,
// premultiplied in 16 bits as color.NRGBA64's RGBA method does.
func lumaNRGBA64(r, g, b, a uint16) float64 {
	return float64(lumaPremul(color.NRGBA64{R: r, G: g, B: b, A: a}.RGBA())) / denom
}
