package grayimg

import (
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"image/color"
	"io"
)

// The PNG reader below decodes the image data a row at a time and writes
// each pixel's luminance straight into the float matrix, so that a PNG
// costs its matrix plus two rows and the inflater's window, where the
// standard decoder would first build an image of up to 8 bytes a pixel.
//
// It accepts exactly what image/png accepts, and each value is the one that
// luminance computes from image/png's image: the chunk order, lengths and
// CRCs are checked alike, the transparency rules are the same (a tRNS key
// for gray and truecolor, alpha per palette entry), and a palette index past
// the palette is opaque black. The tests hold the two to each other on a
// table of images and in FuzzDecode.

// PNG color types.
const (
	ctGray      = 0
	ctTrueColor = 2
	ctPaletted  = 3
	ctGrayAlpha = 4
	ctTrueAlpha = 6
)

// Chunk-order stages, in the order the format requires.
const (
	stStart = iota
	stIHDR
	stPLTE
	stTRNS
	stIDAT
	stIEND
)

// adam7 is the placement of the seven passes of an interlaced image:
// every xStep-th column from xOff, every yStep-th row from yOff.
var adam7 = [7]struct{ xStep, yStep, xOff, yOff int }{
	{8, 8, 0, 0}, {8, 8, 4, 0}, {4, 8, 0, 4}, {4, 4, 2, 0}, {2, 4, 0, 2}, {2, 2, 1, 0}, {1, 2, 0, 1},
}

// inflaterBytes bounds what zlib's reader holds: its 32 KiB window, the
// Huffman tables and its buffers.
const inflaterBytes = 64 << 10

// errReserve marks an error of the Reserve hook, which Decode returns as
// it is.
type errReserve struct{ err error }

func (e errReserve) Error() string { return e.err.Error() }

type pngReader struct {
	r          io.Reader
	crc        hash.Hash32
	tmp        [3 * 256]byte
	stage      int
	w, h       int
	depth      int
	ctype      byte
	interlaced bool
	maxPixels  int
	reserve    func(int64) error

	// lut maps a sample of a gray image of at most 8 bits, or a palette
	// index, to its luminance.
	lut     [256]float64
	palette color.Palette // as image/png builds it, before lut
	// trns is the tRNS key of a gray or truecolor image, in 16 bits per
	// channel as stored; hasKey says there is one.
	trns   [3]uint16
	hasKey bool

	idatLeft uint32 // bytes of the current IDAT chunk not yet read
	pix      []float64
}

// decodePNG reads a PNG from r, whose signature has not been consumed.
func decodePNG(r io.Reader, maxPixels int, reserve func(int64) error) (h, w int, pix []float64, err error) {
	d := &pngReader{r: r, crc: crc32.NewIEEE(), maxPixels: maxPixels, reserve: reserve}
	if _, err := io.ReadFull(r, d.tmp[:len(pngMagic)]); err != nil {
		return 0, 0, nil, noEOF(err)
	}
	if string(d.tmp[:len(pngMagic)]) != pngMagic {
		return 0, 0, nil, errors.New("not a PNG file")
	}
	for d.stage != stIEND {
		if err := d.chunk(); err != nil {
			return 0, 0, nil, noEOF(err)
		}
	}
	return d.h, d.w, d.pix, nil
}

// noEOF turns an end of input where more was due into ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

var errChunkOrder = errors.New("chunk out of order")

// chunk reads one chunk and acts on it.
func (d *pngReader) chunk() error {
	if _, err := io.ReadFull(d.r, d.tmp[:8]); err != nil {
		return err
	}
	length := binary.BigEndian.Uint32(d.tmp[:4])
	d.crc.Reset()
	d.crc.Write(d.tmp[4:8])
	paletted := d.ctype == ctPaletted
	switch string(d.tmp[4:8]) {
	case "IHDR":
		if d.stage != stStart {
			return errChunkOrder
		}
		d.stage = stIHDR
		return d.ihdr(length)
	case "PLTE":
		if d.stage != stIHDR {
			return errChunkOrder
		}
		d.stage = stPLTE
		return d.plte(length)
	case "tRNS":
		truecolor := d.ctype == ctTrueColor
		if (paletted && d.stage != stPLTE) || (truecolor && d.stage != stIHDR && d.stage != stPLTE) ||
			(!paletted && !truecolor && d.stage != stIHDR) {
			return errChunkOrder
		}
		d.stage = stTRNS
		return d.tRNS(length)
	case "IDAT":
		if d.stage < stIHDR || d.stage > stIDAT || (d.stage == stIHDR && paletted) {
			return errChunkOrder
		}
		if d.stage == stIDAT {
			break // IDAT chunks after the image data are skipped
		}
		d.stage = stIDAT
		d.idatLeft = length
		if err := d.image(); err != nil {
			return err
		}
		return d.checksum()
	case "IEND":
		if d.stage != stIDAT {
			return errChunkOrder
		}
		d.stage = stIEND
		if length != 0 {
			return errors.New("bad IEND length")
		}
		return d.checksum()
	}
	return d.skip(length)
}

// skip reads past a chunk of no interest, checking its CRC.
func (d *pngReader) skip(length uint32) error {
	if length > 0x7fffffff {
		return fmt.Errorf("bad chunk length: %d", length)
	}
	for length > 0 {
		n, err := io.ReadFull(d.r, d.tmp[:min(len(d.tmp), int(length))])
		if err != nil {
			return err
		}
		d.crc.Write(d.tmp[:n])
		length -= uint32(n)
	}
	return d.checksum()
}

// checksum reads a chunk's CRC and compares it with the one computed.
func (d *pngReader) checksum() error {
	if _, err := io.ReadFull(d.r, d.tmp[:4]); err != nil {
		return err
	}
	if binary.BigEndian.Uint32(d.tmp[:4]) != d.crc.Sum32() {
		return errors.New("invalid checksum")
	}
	return nil
}

// validDepth reports whether the format allows bit depth for color type.
func validDepth(ctype byte, depth int) bool {
	switch ctype {
	case ctGray:
		return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16
	case ctPaletted:
		return depth == 1 || depth == 2 || depth == 4 || depth == 8
	case ctTrueColor, ctGrayAlpha, ctTrueAlpha:
		return depth == 8 || depth == 16
	}
	return false
}

func (d *pngReader) ihdr(length uint32) error {
	if length != 13 {
		return errors.New("bad IHDR length")
	}
	b := d.tmp[:13]
	if _, err := io.ReadFull(d.r, b); err != nil {
		return err
	}
	d.crc.Write(b)
	switch {
	case b[10] != 0:
		return errors.New("unsupported compression method")
	case b[11] != 0:
		return errors.New("unsupported filter method")
	case b[12] > 1:
		return errors.New("invalid interlace method")
	}
	w, h := int32(binary.BigEndian.Uint32(b[0:4])), int32(binary.BigEndian.Uint32(b[4:8]))
	if w <= 0 || h <= 0 {
		return errors.New("non-positive dimension")
	}
	d.depth, d.ctype, d.interlaced = int(b[8]), b[9], b[12] == 1
	if !validDepth(d.ctype, d.depth) {
		return fmt.Errorf("unsupported bit depth %d with color type %d", d.depth, d.ctype)
	}
	d.w, d.h = int(w), int(h)
	if err := checkSize(d.w, d.h, d.maxPixels); err != nil {
		return err
	}
	return d.checksum()
}

func (d *pngReader) plte(length uint32) error {
	n := int(length / 3)
	if length%3 != 0 || n <= 0 || n > 256 || n > 1<<d.depth {
		return errors.New("bad PLTE length")
	}
	if _, err := io.ReadFull(d.r, d.tmp[:3*n]); err != nil {
		return err
	}
	d.crc.Write(d.tmp[:3*n])
	switch d.ctype {
	case ctPaletted:
		// Room for 256 entries, opaque black past the chunk's: a tRNS
		// chunk or an index past the palette reaches into them.
		d.palette = make(color.Palette, 256)
		for i := range d.palette {
			d.palette[i] = color.RGBA{A: 0xff}
		}
		for i := range n {
			d.palette[i] = color.RGBA{d.tmp[3*i], d.tmp[3*i+1], d.tmp[3*i+2], 0xff}
		}
	case ctTrueColor, ctTrueAlpha:
		// A suggested palette, of no use here.
	default:
		return errors.New("PLTE with a color type that has none")
	}
	return d.checksum()
}

func (d *pngReader) tRNS(length uint32) error {
	want := map[byte]uint32{ctGray: 2, ctTrueColor: 6}[d.ctype]
	switch {
	case d.ctype == ctPaletted && length > 256:
		return errors.New("bad tRNS length")
	case d.ctype == ctPaletted:
	case want == 0:
		return errors.New("tRNS with a color type that has alpha")
	case length != want:
		return errors.New("bad tRNS length")
	}
	b := d.tmp[:length]
	if _, err := io.ReadFull(d.r, b); err != nil {
		return err
	}
	d.crc.Write(b)
	if d.ctype == ctPaletted {
		for i, a := range b {
			c := d.palette[i].(color.RGBA)
			d.palette[i] = color.NRGBA{c.R, c.G, c.B, a}
		}
	} else {
		for i := range int(length / 2) {
			d.trns[i] = binary.BigEndian.Uint16(b[2*i:])
		}
		d.hasKey = true
	}
	return d.checksum()
}

// Read reads the image data: the contents of consecutive IDAT chunks,
// checking each chunk's CRC as it ends.
func (d *pngReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for d.idatLeft == 0 {
		if err := d.checksum(); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(d.r, d.tmp[:8]); err != nil {
			return 0, err
		}
		if string(d.tmp[4:8]) != "IDAT" {
			return 0, errors.New("not enough pixel data")
		}
		d.idatLeft = binary.BigEndian.Uint32(d.tmp[:4])
		d.crc.Reset()
		d.crc.Write(d.tmp[4:8])
	}
	n, err := d.r.Read(p[:min(uint64(len(p)), uint64(d.idatLeft))])
	d.crc.Write(p[:n])
	d.idatLeft -= uint32(n)
	return n, err
}

// bitsPerPixel is the size of a pixel in the image data.
func (d *pngReader) bitsPerPixel() int {
	channels := map[byte]int{ctGray: 1, ctTrueColor: 3, ctPaletted: 1, ctGrayAlpha: 2, ctTrueAlpha: 4}[d.ctype]
	return channels * d.depth
}

// image reserves and allocates the matrix, then inflates the image data
// into it row by row, pass by pass for an interlaced image.
func (d *pngReader) image() error {
	bpp := d.bitsPerPixel()
	rowBytes := 1 + (bpp*d.w+7)/8
	if d.reserve != nil {
		px := int64(d.w) * int64(d.h)
		if err := d.reserve(8*px + 2*int64(rowBytes) + inflaterBytes); err != nil {
			return errReserve{err}
		}
	}
	d.buildLUT()
	d.pix = make([]float64, d.w*d.h)
	zr, err := zlib.NewReader(d)
	if err != nil {
		return err
	}
	defer zr.Close()
	rows := newRowReader(zr, bpp, rowBytes)
	if !d.interlaced {
		if err := d.pass(rows, d.w, d.h, 0, d.w, 1); err != nil {
			return err
		}
	} else {
		for _, p := range adam7 {
			pw, ph := (d.w-p.xOff+p.xStep-1)/p.xStep, (d.h-p.yOff+p.yStep-1)/p.yStep
			if pw == 0 || ph == 0 {
				continue
			}
			if err := d.pass(rows, pw, ph, p.yOff*d.w+p.xOff, p.yStep*d.w, p.xStep); err != nil {
				return err
			}
		}
	}
	return d.dataEnd(zr)
}

// dataEnd checks that the image data ends with the last row: the zlib
// stream ends there (which checks its checksum), and so does the IDAT
// chunk holding it.
func (d *pngReader) dataEnd(zr io.Reader) error {
	var (
		n   int
		err error
	)
	for i := 0; n == 0 && err == nil; i++ {
		if i == 100 {
			return io.ErrNoProgress
		}
		n, err = zr.Read(d.tmp[:1])
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if n != 0 || d.idatLeft != 0 {
		return errors.New("too much pixel data")
	}
	return nil
}

// pass reads the h rows of w pixels of one pass (the whole image when not
// interlaced) and writes pixel x of row y to d.pix[start + y·rowStep +
// x·step].
func (d *pngReader) pass(rows *rowReader, w, h, start, rowStep, step int) error {
	rows.reset(w)
	for y := range h {
		cur, err := rows.next()
		if err != nil {
			return err
		}
		d.convert(cur, w, d.pix[start+y*rowStep:], step)
	}
	return nil
}
