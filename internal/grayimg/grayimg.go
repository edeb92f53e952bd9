// Package grayimg converts between PNG and JPEG images and grayscale
// matrices in d2l's convention: row-major float64 values with white 1 and
// black 0.
package grayimg

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
)

// Sentinel errors. Errors caused by the input wrap one of them, with detail;
// errors from the underlying reader or writer are wrapped as they are.
var (
	// ErrFormat reports data that is not a PNG or JPEG image, or a
	// corrupt one.
	ErrFormat = errors.New("grayimg: malformed image")
	// ErrTooLarge reports an image with more pixels than Limits.MaxPixels.
	ErrTooLarge = errors.New("grayimg: image too large")
	// ErrInvalid reports arguments to EncodePNG that do not describe an
	// image: a shape that does not match the data, a non-finite value or
	// an unusable Scale.
	ErrInvalid = errors.New("grayimg: invalid argument")
)

// DefaultMaxPixels is the pixel limit that a zero Limits takes: 16 Mi
// pixels, 128 MiB as float64.
const DefaultMaxPixels = 1 << 24

// Limits bound what Decode accepts.
type Limits struct {
	// MaxPixels caps width×height, checked from the image header before
	// any pixel is decoded. Zero or negative means DefaultMaxPixels.
	MaxPixels int
	// Reserve, if not nil, is called once the image's size is known and
	// before its pixels are decoded, with the bytes that decoding will
	// hold: the luminance matrix, and the decoder's rows and window for a
	// PNG or its image for a JPEG. An error from it
	// ends Decode and is returned as it is.
	Reserve func(bytes int64) error
}

// The signatures that Decode sniffs. Decode calls the PNG and JPEG decoders
// directly rather than through image.Decode, so that what it accepts does
// not depend on which other packages of the program registered formats.
const (
	pngMagic  = "\x89PNG\r\n\x1a\n"
	jpegMagic = "\xff\xd8"
)

// Decode reads a PNG or JPEG image, recognised by its signature, and
// returns its height, width and luminance in row-major order, each in
// [0, 1] with white 1 and black 0.
//
// The image header is read first and an image of more than lim.MaxPixels
// pixels is refused with ErrTooLarge before any pixel data is decoded, so a
// small file that claims to be huge costs nothing. A PNG is decoded a row
// at a time straight into the returned matrix, so that it holds little more
// than the matrix; a JPEG goes through the standard decoder's image of up
// to 4 bytes a pixel.
//
// Luminance is computed as follows:
//
//   - 8-bit gray v: Y = v / 255.
//   - 16-bit gray v: Y = v / 65535.
//   - Anything else (color, gray with alpha, palette, CMYK, YCbCr JPEG):
//     with R, G, B the straight (not premultiplied) channel values and α
//     the opacity, each as a 16-bit value divided by 65535, the pixel is
//     composited over a white background and converted with the ITU-R
//     BT.601 luma weights:
//     Y = α·(0.299 R + 0.587 G + 0.114 B) + (1 − α).
//     White stays 1 and a fully transparent pixel becomes 1 (the white
//     background), whatever its color.
//
// The color formula is evaluated in integers (weights in thousandths
// times premultiplied channels) with one final division, so each result is
// the exact value rounded once: white is exactly 1, and opaque gray
// (v, v, v) in 8 bits gives exactly v/255, as in the gray case. The one
// inexact input is 16-bit color with alpha, which the standard library
// premultiplies in 16 bits first, moving Y by at most 1/65535.
func Decode(r io.Reader, lim Limits) (h, w int, pix []float64, err error) {
	maxPixels := lim.MaxPixels
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	rr := &recordingReader{r: r}
	br := bufio.NewReader(rr)
	// The signature and, for PNG, the IHDR chunk that must follow it.
	sig, _ := br.Peek(pngIHDREnd)
	if rr.err != nil {
		return 0, 0, nil, fmt.Errorf("grayimg: reading the image: %w", rr.err)
	}
	if err := checkIHDR(sig, maxPixels); err != nil {
		return 0, 0, nil, err
	}
	switch {
	case bytes.HasPrefix(sig, []byte(pngMagic)):
		h, w, pix, err := decodePNG(br, maxPixels, lim.Reserve)
		var re errReserve
		switch {
		case errors.As(err, &re):
			return 0, 0, nil, re.err
		case errors.Is(err, ErrTooLarge):
			return 0, 0, nil, err
		case err != nil:
			return 0, 0, nil, decodeErr("PNG", err, rr.err)
		}
		return h, w, pix, nil
	case bytes.HasPrefix(sig, []byte(jpegMagic)):
		return decodeJPEG(br, rr, maxPixels, lim.Reserve)
	}
	return 0, 0, nil, fmt.Errorf("%w: not a PNG or JPEG image", ErrFormat)
}

// decodeJPEG decodes a JPEG with the standard decoder, whose image of at
// most 4 bytes a pixel is then converted.
func decodeJPEG(br *bufio.Reader, rr *recordingReader, maxPixels int, reserve func(int64) error) (h, w int, pix []float64, err error) {
	// DecodeConfig consumes the start of the stream; keep what it read
	// and replay it to the full decoder.
	var head bytes.Buffer
	cfg, err := jpeg.DecodeConfig(io.TeeReader(br, &head))
	if err != nil {
		return 0, 0, nil, decodeErr("JPEG", err, rr.err)
	}
	if err := checkSize(cfg.Width, cfg.Height, maxPixels); err != nil {
		return 0, 0, nil, err
	}
	if reserve != nil {
		px := int64(cfg.Width) * int64(cfg.Height)
		if err := reserve(px * (decodedBytesPerPixel(cfg.ColorModel) + 8)); err != nil {
			return 0, 0, nil, err
		}
	}
	img, err := jpeg.Decode(io.MultiReader(&head, br))
	if err != nil {
		return 0, 0, nil, decodeErr("JPEG", err, rr.err)
	}
	b := img.Bounds()
	// The decoder allocates what the header said, but check again rather
	// than trust that.
	if err := checkSize(b.Dx(), b.Dy(), maxPixels); err != nil {
		return 0, 0, nil, err
	}
	return b.Dy(), b.Dx(), luminance(img), nil
}

// decodedBytesPerPixel is what the standard decoders' image of a color
// model holds per pixel; an unknown model is counted as the largest.
func decodedBytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel:
		return 4
	case color.YCbCrModel:
		return 3 // 4:4:4 at the most
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8
}

// pngIHDREnd is the offset past the width and height in a PNG: signature
// (8), IHDR length (4), "IHDR" (4), width (4), height (4).
const pngIHDREnd = 24

// checkIHDR refuses a PNG whose IHDR claims more than maxPixels pixels.
// DecodeConfig would catch most such files too, but the standard decoder
// rejects sizes whose byte count overflows an int as unsupported, not too
// large; reading the two numbers here reports every oversized PNG alike.
// Anything else is left to the decoder to judge.
func checkIHDR(b []byte, maxPixels int) error {
	if len(b) < pngIHDREnd || !bytes.HasPrefix(b, []byte(pngMagic)) || string(b[12:16]) != "IHDR" {
		return nil
	}
	w, h := binary.BigEndian.Uint32(b[16:]), binary.BigEndian.Uint32(b[20:])
	if w > 0 && h > 0 && uint64(w)*uint64(h) > uint64(maxPixels) {
		return fmt.Errorf("%w: image is %d×%d pixels, over the limit of %d", ErrTooLarge, w, h, maxPixels)
	}
	return nil
}

func checkSize(w, h, maxPixels int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: image is %d×%d pixels", ErrFormat, w, h)
	}
	if w > maxPixels/h {
		return fmt.Errorf("%w: image is %d×%d pixels, over the limit of %d", ErrTooLarge, w, h, maxPixels)
	}
	return nil
}

// recordingReader remembers the first error other than io.EOF that r
// returned, so that Decode can tell the reader's failures, which it passes
// on, from faults in the data, which the standard decoders report in
// several unexported ways (zlib and flate errors among them).
type recordingReader struct {
	r   io.Reader
	err error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && r.err == nil {
		r.err = err
	}
	return n, err
}

// decodeErr returns the error for a failure err of a format decoder, given
// the reader's own error readErr, if any.
func decodeErr(format string, err, readErr error) error {
	if readErr != nil {
		return fmt.Errorf("grayimg: reading the image: %w", readErr)
	}
	return fmt.Errorf("%w: %s: %w", ErrFormat, format, err)
}

// denom is the denominator of the integer luma: weights in thousandths
// times 16-bit channels.
const denom = 1000 * 0xffff

// lumaPremul returns the numerator of Y·denom for premultiplied 16-bit
// channels r, g, b and alpha a, composited over white. Compositing a
// premultiplied color over white adds (1 − α) to each channel, and the
// weights sum to one, so it adds (1 − α) to the luma.
func lumaPremul(r, g, b, a uint32) int64 {
	return 299*int64(r) + 587*int64(g) + 114*int64(b) + 1000*(0xffff-int64(a))
}

// luminance converts img to row-major luminance. Common decoder outputs
// have fast paths; they compute the same values as the general path.
func luminance(img image.Image) []float64 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	pix := make([]float64, w*h)
	switch m := img.(type) {
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			out := pix[y*w : (y+1)*w]
			for x, v := range row {
				out[x] = float64(v) / 0xff
			}
		}
	case *image.Gray16:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+2*w]
			out := pix[y*w : (y+1)*w]
			for x := range out {
				out[x] = float64(uint16(row[2*x])<<8|uint16(row[2*x+1])) / 0xffff
			}
		}
	case *image.RGBA:
		// Premultiplied 8-bit channels, widened to 16 bits as RGBA()
		// does.
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			out := pix[y*w : (y+1)*w]
			for x := range out {
				p := row[4*x : 4*x+4 : 4*x+4]
				out[x] = lumaRGBA8(p[0], p[1], p[2], p[3])
			}
		}
	case *image.NRGBA:
		// Straight 8-bit channels; ×257 widens them to 16 bits, and the
		// premultiplication is done exactly in integers.
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			out := pix[y*w : (y+1)*w]
			for x := range out {
				p := row[4*x : 4*x+4 : 4*x+4]
				out[x] = lumaNRGBA(p[0], p[1], p[2], p[3])
			}
		}
	case *image.Paletted:
		lut := make([]float64, len(m.Palette))
		for i, c := range m.Palette {
			lut[i] = float64(lumaPremul(c.RGBA())) / denom
		}
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			out := pix[y*w : (y+1)*w]
			for x, v := range row {
				// The PNG decoder extends the palette with
				// opaque black for indices past it; any other
				// source gets the same.
				if int(v) < len(lut) {
					out[x] = lut[v]
				}
			}
		}
	case *image.YCbCr:
		for y := range h {
			out := pix[y*w : (y+1)*w]
			for x := range out {
				out[x] = float64(lumaPremul(m.YCbCrAt(b.Min.X+x, b.Min.Y+y).RGBA())) / denom
			}
		}
	default:
		// RGBA() returns premultiplied channels; NRGBA64 and the other
		// straight-alpha models premultiply in 16 bits, which is exact to
		// within one part in 65535.
		for y := range h {
			out := pix[y*w : (y+1)*w]
			for x := range out {
				out[x] = float64(lumaPremul(img.At(b.Min.X+x, b.Min.Y+y).RGBA())) / denom
			}
		}
	}
	return pix
}

// Scale modes.
const (
	// ModeMinMax maps the smallest value of the data to 0 and the largest
	// to 255.
	ModeMinMax = "minmax"
	// ModeClip maps Lo to 0 and Hi to 255 and clips values outside.
	ModeClip = "clip"
)

// Scale says how EncodePNG maps values to 8-bit gray levels.
type Scale struct {
	// Mode is ModeMinMax, or ModeClip; empty means ModeMinMax.
	Mode string
	// Lo and Hi are the values that ModeClip maps to black and white.
	// They must be finite with Lo < Hi. ModeMinMax ignores them.
	Lo, Hi float64
}

// EncodePNG writes the h×wd row-major values pix as an 8-bit grayscale
// PNG. A value v becomes the gray level round(255·(v − lo)/(hi − lo)),
// clipped to [0, 255], rounding halves away from zero, where lo and hi are
// s.Lo and s.Hi for ModeClip and the minimum and maximum of pix for
// ModeMinMax. A constant image under ModeMinMax is all black: every pixel
// is the minimum, and the minimum maps to 0.
//
// pix must hold h·wd finite values. EncodePNG writes to w as it encodes,
// so a caller that must not send half an image on error should encode into
// a buffer.
func EncodePNG(w io.Writer, h, wd int, pix []float64, s Scale) error {
	if h <= 0 || wd <= 0 || wd > math.MaxInt/h || h*wd != len(pix) {
		return fmt.Errorf("%w: %d×%d image with %d values", ErrInvalid, h, wd, len(pix))
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, v := range pix {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: value %d (row %d, column %d) is %v", ErrInvalid, i, i/wd, i%wd, v)
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	switch s.Mode {
	case ModeMinMax, "":
	case ModeClip:
		if math.IsNaN(s.Lo) || math.IsInf(s.Lo, 0) || math.IsNaN(s.Hi) || math.IsInf(s.Hi, 0) || !(s.Lo < s.Hi) {
			return fmt.Errorf("%w: clip range [%v, %v] must be finite with lo < hi", ErrInvalid, s.Lo, s.Hi)
		}
		lo, hi = s.Lo, s.Hi
	default:
		return fmt.Errorf("%w: scale mode %q; want %q or %q", ErrInvalid, s.Mode, ModeMinMax, ModeClip)
	}

	img := image.NewGray(image.Rect(0, 0, wd, h))
	if hi > lo {
		// hi − lo is positive, since IEEE subtraction of distinct values
		// is never zero, but may overflow for values near ±MaxFloat64;
		// then halving everything first keeps it finite. Dividing per
		// value rather than multiplying by 255/span avoids an infinite
		// factor when span is subnormal.
		span, off, half := hi-lo, lo, 1.0
		if math.IsInf(span, 1) {
			half = 0.5
			span, off = hi*half-lo*half, lo*half
		}
		for y := range h {
			row := img.Pix[y*img.Stride : y*img.Stride+wd]
			for x, v := range pix[y*wd : (y+1)*wd] {
				// v − lo may overflow to ±Inf in clip mode, which
				// the clamp handles; it is never NaN.
				g := math.Round(255 * ((v*half - off) / span))
				row[x] = uint8(min(255, max(0, g)))
			}
		}
	}
	// Otherwise hi == lo: a constant image under minmax, left black.
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("grayimg: encoding PNG: %w", err)
	}
	return nil
}
