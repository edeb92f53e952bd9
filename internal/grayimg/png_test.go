package grayimg

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image/png"
	"math/rand/v2"
	"runtime"
	"testing"
)

// pngFile describes a PNG for the tests to write: any color type, bit
// depth, filter and interlacing, with the chunks image/png's encoder never
// writes (tRNS keys, short palettes, split IDAT).
type pngFile struct {
	w, h         int
	ctype, depth byte
	interlaced   bool
	paletteLen   int    // PLTE entries, for paletted images
	trns         []byte // the tRNS chunk's data, if any
	idatSize     int    // bytes per IDAT chunk; 0 is one chunk
	// samples returns sample number i of a row (the channels of each
	// pixel in turn), below 1<<depth.
	samples func(rng *rand.Rand, i int) uint16
}

func pngChunk(buf *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	buf.Write(n[:])
	buf.WriteString(typ)
	buf.Write(data)
	binary.BigEndian.PutUint32(n[:], crc32.ChecksumIEEE(append([]byte(typ), data...)))
	buf.Write(n[:])
}

func channelsOf(ctype byte) int {
	return map[byte]int{ctGray: 1, ctTrueColor: 3, ctPaletted: 1, ctGrayAlpha: 2, ctTrueAlpha: 4}[ctype]
}

// encode writes f, with random samples from seed; rows cycle through the
// five filters.
func (f pngFile) encode(t testing.TB, seed uint64) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var data bytes.Buffer
	zw := zlib.NewWriter(&data)
	bits := channelsOf(f.ctype) * int(f.depth)
	bpp := (bits + 7) / 8
	passes := []struct{ xStep, yStep, xOff, yOff int }{{1, 1, 0, 0}}
	if f.interlaced {
		passes = adam7[:]
	}
	row := 0
	for _, p := range passes {
		pw, ph := (f.w-p.xOff+p.xStep-1)/p.xStep, (f.h-p.yOff+p.yStep-1)/p.yStep
		if pw == 0 || ph == 0 {
			continue
		}
		n := (bits*pw + 7) / 8
		prev := make([]byte, n)
		for range ph {
			raw := make([]byte, n)
			for i := range pw * channelsOf(f.ctype) {
				putSample(raw, i, int(f.depth), f.samples(rng, i))
			}
			ft := byte(row % 5)
			row++
			_, _ = zw.Write(append([]byte{ft}, filterRow(ft, raw, prev, bpp)...))
			prev = raw
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.WriteString(pngMagic)
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(f.w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(f.h))
	ihdr[8], ihdr[9] = f.depth, f.ctype
	if f.interlaced {
		ihdr[12] = 1
	}
	pngChunk(&buf, "IHDR", ihdr)
	if f.paletteLen > 0 {
		plte := make([]byte, 3*f.paletteLen)
		for i := range plte {
			plte[i] = uint8(rng.IntN(256))
		}
		pngChunk(&buf, "PLTE", plte)
	}
	if f.trns != nil {
		pngChunk(&buf, "tRNS", f.trns)
	}
	pngChunk(&buf, "tEXt", []byte("Comment\x00skipped"))
	idat := data.Bytes()
	size := f.idatSize
	if size <= 0 {
		size = len(idat)
	}
	for len(idat) > 0 {
		n := min(size, len(idat))
		pngChunk(&buf, "IDAT", idat[:n])
		idat = idat[n:]
	}
	pngChunk(&buf, "IEND", nil)
	return buf.Bytes()
}

func putSample(row []byte, i, depth int, v uint16) {
	switch depth {
	case 16:
		binary.BigEndian.PutUint16(row[2*i:], v)
	case 8:
		row[i] = uint8(v)
	default:
		perByte := 8 / depth
		shift := 8 - depth*(i%perByte+1)
		row[i/perByte] |= uint8(v) << shift
	}
}

// filterRow applies filter ft to raw, given the raw row above.
func filterRow(ft byte, raw, prev []byte, bpp int) []byte {
	out := make([]byte, len(raw))
	for i := range raw {
		var a, c byte
		if i >= bpp {
			a, c = raw[i-bpp], prev[i-bpp]
		}
		b := prev[i]
		var pred byte
		switch ft {
		case 1:
			pred = a
		case 2:
			pred = b
		case 3:
			pred = uint8((int(a) + int(b)) / 2)
		case 4:
			pred = paeth(a, b, c)
		}
		out[i] = raw[i] - pred
	}
	return out
}

// uniform draws samples uniformly below 1<<depth.
func uniform(depth byte) func(*rand.Rand, int) uint16 {
	return func(rng *rand.Rand, _ int) uint16 { return uint16(rng.IntN(1 << depth)) }
}

// fewValues draws samples from a handful of values, so that a tRNS key
// made of them matches some pixels.
func fewValues(depth byte) func(*rand.Rand, int) uint16 {
	return func(rng *rand.Rand, _ int) uint16 { return uint16(rng.IntN(3)) * uint16((1<<depth-1)/2) }
}

// pngTable is every color type and bit depth image/png reads, with and
// without transparency, plain and interlaced.
func pngTable() map[string]pngFile {
	table := map[string]pngFile{}
	add := func(name string, f pngFile) {
		for _, il := range []bool{false, true} {
			for _, size := range [][2]int{{1, 1}, {7, 5}, {13, 17}} {
				g := f
				g.w, g.h, g.interlaced = size[0], size[1], il
				table[fmt.Sprintf("%s %dx%d interlaced=%v", name, g.w, g.h, il)] = g
			}
		}
	}
	for _, d := range []byte{1, 2, 4, 8, 16} {
		add(fmt.Sprintf("gray%d", d), pngFile{ctype: ctGray, depth: d, samples: uniform(d)})
		half := uint16((1<<d - 1) / 2)
		add(fmt.Sprintf("gray%d key", d), pngFile{ctype: ctGray, depth: d, samples: fewValues(d),
			trns: binary.BigEndian.AppendUint16(nil, half)})
	}
	// A key past a low depth's range wraps in 8 bits in image/png.
	add("gray2 key 7", pngFile{ctype: ctGray, depth: 2, samples: uniform(2), trns: []byte{0, 7}})
	add("gray8 key high byte", pngFile{ctype: ctGray, depth: 8, samples: fewValues(8), trns: []byte{1, 127}})
	for _, d := range []byte{1, 2, 4, 8} {
		n := 1 << d
		add(fmt.Sprintf("palette%d", d), pngFile{ctype: ctPaletted, depth: d, paletteLen: n, samples: uniform(d)})
		// Indices past a short palette, alpha for some entries, and
		// a tRNS longer than the palette.
		short := max(1, n/2)
		trns := make([]byte, min(n, short+1))
		for i := range trns {
			trns[i] = uint8(37 * i)
		}
		add(fmt.Sprintf("palette%d short with tRNS", d), pngFile{ctype: ctPaletted, depth: d, paletteLen: short, trns: trns, samples: uniform(d)})
	}
	for _, d := range []byte{8, 16} {
		add(fmt.Sprintf("rgb%d", d), pngFile{ctype: ctTrueColor, depth: d, samples: uniform(d)})
		half := uint16((1<<d - 1) / 2)
		key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, half), half), 0)
		add(fmt.Sprintf("rgb%d key", d), pngFile{ctype: ctTrueColor, depth: d, samples: fewValues(d), trns: key})
		add(fmt.Sprintf("gray+alpha%d", d), pngFile{ctype: ctGrayAlpha, depth: d, samples: uniform(d)})
		add(fmt.Sprintf("rgba%d", d), pngFile{ctype: ctTrueAlpha, depth: d, samples: uniform(d)})
	}
	add("rgba8 in 7-byte IDAT chunks", pngFile{ctype: ctTrueAlpha, depth: 8, samples: uniform(8), idatSize: 7})
	return table
}

// Decode gives, for every kind of PNG, exactly the values that luminance
// computes from image/png's image of it.
func TestDecodePNGMatchesImagePNG(t *testing.T) {
	for name, f := range pngTable() {
		t.Run(name, func(t *testing.T) {
			file := f.encode(t, 1)
			img, err := png.Decode(bytes.NewReader(file))
			if err != nil {
				t.Fatalf("image/png refuses the test's file: %v", err)
			}
			want := luminance(img)
			h, w, got, err := Decode(bytes.NewReader(file), Limits{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if h != f.h || w != f.w {
				t.Fatalf("Decode = %d×%d, want %d×%d", h, w, f.h, f.w)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("pixel %d (row %d, column %d) = %v, image/png gives %v", i, i/w, i%w, got[i], want[i])
				}
			}
		})
	}
}

// A PNG costs its matrix and little more: at most 1.5 times the matrix in
// all that decoding allocates, whatever its format, where the image/png
// route held a 16-bit RGBA image of the same size as the matrix beside it.
func TestDecodePNGAllocatesLittleMoreThanTheMatrix(t *testing.T) {
	for _, f := range []pngFile{
		{w: 512, h: 512, ctype: ctTrueAlpha, depth: 16, samples: uniform(16)},
		{w: 512, h: 512, ctype: ctTrueAlpha, depth: 16, samples: uniform(16), interlaced: true},
		{w: 1000, h: 300, ctype: ctGray, depth: 8, samples: uniform(8)},
		{w: 300, h: 1000, ctype: ctPaletted, depth: 4, paletteLen: 16, samples: uniform(4)},
	} {
		file := f.encode(t, 2)
		var reserved int64
		lim := Limits{Reserve: func(n int64) error { reserved = n; return nil }}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, pix, err := Decode(bytes.NewReader(file), lim)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		matrix := int64(8 * len(pix))
		alloc := int64(after.TotalAlloc - before.TotalAlloc)
		if float64(alloc) > 1.5*float64(matrix) {
			t.Errorf("%d×%d color type %d depth %d: Decode allocated %d bytes for a %d-byte matrix (%.2f×)",
				f.w, f.h, f.ctype, f.depth, alloc, matrix, float64(alloc)/float64(matrix))
		}
		if reserved < alloc {
			t.Errorf("%d×%d color type %d depth %d: reserved %d bytes, allocated %d", f.w, f.h, f.ctype, f.depth, reserved, alloc)
		}
	}
}
