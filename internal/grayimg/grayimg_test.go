package grayimg_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"runtime"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/grayimg"
)

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decode(t *testing.T, b []byte) (int, int, []float64) {
	t.Helper()
	h, w, pix, err := grayimg.Decode(bytes.NewReader(b), grayimg.Limits{})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(pix) != h*w {
		t.Fatalf("Decode returned %d values for %d×%d", len(pix), h, w)
	}
	return h, w, pix
}

// nearly compares within an absolute tolerance.
func nearly(tol float64) cmp.Option {
	return cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= tol })
}

func TestDecodeGrayPNGIsExact(t *testing.T) {
	// 3 rows by 5 columns, so that a transposition shows.
	img := image.NewGray(image.Rect(0, 0, 5, 3))
	want := make([]float64, 15)
	for i := range img.Pix {
		v := uint8(i * 255 / 14)
		img.Pix[i] = v
		want[i] = float64(v) / 255
	}
	h, w, got := decode(t, encodePNG(t, img))
	if h != 3 || w != 5 {
		t.Errorf("Decode size = %d×%d, want 3×5", h, w)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode mismatch (-want +got):\n%s", diff)
	}
	if got[0] != 0 || got[14] != 1 {
		t.Errorf("black and white decode as %v and %v, want 0 and 1", got[0], got[14])
	}
}

func TestDecodeGray16PNGIsExact(t *testing.T) {
	img := image.NewGray16(image.Rect(0, 0, 4, 2))
	vals := []uint16{0, 1, 256, 1000, 32768, 40000, 65534, 65535}
	want := make([]float64, len(vals))
	for i, v := range vals {
		img.SetGray16(i%4, i/4, color.Gray16{Y: v})
		want[i] = float64(v) / 65535
	}
	_, _, got := decode(t, encodePNG(t, img))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeColorUsesBT601Luma(t *testing.T) {
	colors := []color.RGBA{
		{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255},
		{255, 255, 255, 255}, {0, 0, 0, 255}, {51, 51, 51, 255}, {10, 200, 30, 255},
	}
	want := []float64{0.299, 0.587, 0.114, 1, 0, 51.0 / 255, (0.299*10 + 0.587*200 + 0.114*30) / 255}
	img := image.NewRGBA(image.Rect(0, 0, len(colors), 1))
	for i, c := range colors {
		img.SetRGBA(i, 0, c)
	}
	_, _, got := decode(t, encodePNG(t, img))
	if diff := cmp.Diff(want, got, nearly(1e-15)); diff != "" {
		t.Errorf("Decode mismatch (-want +got):\n%s", diff)
	}
	// White is exactly 1 and gray exactly v/255, not merely close.
	if got[3] != 1 || got[5] != 51.0/255 {
		t.Errorf("white = %v, gray 51 = %v; want exactly 1 and %v", got[3], got[5], 51.0/255)
	}
}

func TestDecodeCompositesAlphaOverWhite(t *testing.T) {
	half := 128.0 / 255
	t.Run("8-bit", func(t *testing.T) {
		colors := []color.NRGBA{
			{0, 0, 0, 0}, {255, 0, 0, 0}, // fully transparent: white whatever the color
			{0, 0, 0, 128}, {255, 0, 0, 128}, {255, 255, 255, 128},
			{0, 0, 0, 255}, {255, 0, 0, 255},
		}
		want := []float64{1, 1, 1 - half, half*0.299 + 1 - half, 1, 0, 0.299}
		img := image.NewNRGBA(image.Rect(0, 0, len(colors), 1))
		for i, c := range colors {
			img.SetNRGBA(i, 0, c)
		}
		_, _, got := decode(t, encodePNG(t, img))
		if diff := cmp.Diff(want, got, nearly(1e-15)); diff != "" {
			t.Errorf("Decode mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("16-bit", func(t *testing.T) {
		colors := []color.NRGBA64{
			{0, 0, 0, 0}, {0, 0, 0, 0x8000}, {0xffff, 0, 0, 0x8000}, {0xffff, 0, 0, 0xffff},
		}
		a := float64(0x8000) / 0xffff
		want := []float64{1, 1 - a, a*0.299 + 1 - a, 0.299}
		img := image.NewNRGBA64(image.Rect(0, 0, len(colors), 1))
		for i, c := range colors {
			img.SetNRGBA64(i, 0, c)
		}
		_, _, got := decode(t, encodePNG(t, img))
		// 16-bit straight alpha is premultiplied in 16 bits on the way.
		if diff := cmp.Diff(want, got, nearly(2.0/65535)); diff != "" {
			t.Errorf("Decode mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("palette", func(t *testing.T) {
		pal := color.Palette{color.White, color.RGBA{255, 0, 0, 255}, color.NRGBA{0, 0, 0, 128}, color.Transparent}
		img := image.NewPaletted(image.Rect(0, 0, 4, 1), pal)
		copy(img.Pix, []uint8{0, 1, 2, 3})
		_, _, got := decode(t, encodePNG(t, img))
		want := []float64{1, 0.299, 1 - half, 1}
		if diff := cmp.Diff(want, got, nearly(1e-15)); diff != "" {
			t.Errorf("Decode mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestDecodeJPEG(t *testing.T) {
	t.Run("gray", func(t *testing.T) {
		img := image.NewGray(image.Rect(0, 0, 16, 8))
		for i := range img.Pix {
			img.Pix[i] = 200
		}
		h, w, got := decode(t, encodeJPEG(t, img))
		if h != 8 || w != 16 {
			t.Fatalf("Decode size = %d×%d, want 8×16", h, w)
		}
		for i, v := range got {
			if math.Abs(v-200.0/255) > 1.0/255 {
				t.Fatalf("pixel %d = %v, want about %v", i, v, 200.0/255)
			}
		}
	})
	t.Run("color", func(t *testing.T) {
		img := image.NewRGBA(image.Rect(0, 0, 16, 16))
		for i := 0; i < len(img.Pix); i += 4 {
			copy(img.Pix[i:], []uint8{255, 0, 0, 255})
		}
		_, _, got := decode(t, encodeJPEG(t, img))
		for i, v := range got {
			// JPEG's chroma quantisation moves pure red a little.
			if math.Abs(v-0.299) > 0.02 {
				t.Fatalf("pixel %d = %v, want about 0.299", i, v)
			}
		}
	})
}

// patchPNGSize rewrites the IHDR width and height of a PNG and fixes the
// chunk's CRC, so that the header is valid but the data is not.
func patchPNGSize(b []byte, w, h uint32) []byte {
	b = bytes.Clone(b)
	// Signature (8), IHDR length (4), "IHDR" (4), then width and height.
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	// The CRC covers the chunk type and its 13 data bytes.
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// patchJPEGSize rewrites the height and width in a baseline JPEG's SOF0.
func patchJPEGSize(t *testing.T, b []byte, w, h uint16) []byte {
	b = bytes.Clone(b)
	i := bytes.Index(b, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 marker in the JPEG")
	}
	// Marker (2), length (2), precision (1), then height and width.
	binary.BigEndian.PutUint16(b[i+5:], h)
	binary.BigEndian.PutUint16(b[i+7:], w)
	return b
}

func TestDecodeRefusesBombsUndecoded(t *testing.T) {
	small := image.NewGray(image.Rect(0, 0, 1, 1))
	for _, c := range []struct {
		name string
		file []byte
	}{
		{"PNG claiming 100000×100000", patchPNGSize(encodePNG(t, small), 100000, 100000)},
		{"PNG claiming 2³¹−1 × 2³¹−1", patchPNGSize(encodePNG(t, small), math.MaxInt32, math.MaxInt32)},
		{"JPEG claiming 65535×65535", patchJPEGSize(t, encodeJPEG(t, small), 65535, 65535)},
	} {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, _, _, err := grayimg.Decode(bytes.NewReader(c.file), grayimg.Limits{})
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, grayimg.ErrTooLarge) {
				t.Fatalf("Decode = %v, want ErrTooLarge", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("Decode allocated %d bytes refusing the image", alloc)
			}
			if elapsed > time.Second {
				t.Errorf("Decode took %v refusing the image", elapsed)
			}
		})
	}
}

func TestDecodeLimit(t *testing.T) {
	file := encodePNG(t, image.NewGray(image.Rect(0, 0, 10, 10)))
	if _, _, _, err := grayimg.Decode(bytes.NewReader(file), grayimg.Limits{MaxPixels: 99}); !errors.Is(err, grayimg.ErrTooLarge) {
		t.Errorf("Decode(10×10, MaxPixels 99) = %v, want ErrTooLarge", err)
	}
	if _, _, _, err := grayimg.Decode(bytes.NewReader(file), grayimg.Limits{MaxPixels: 100}); err != nil {
		t.Errorf("Decode(10×10, MaxPixels 100) = %v, want success", err)
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	good := encodePNG(t, image.NewGray(image.Rect(0, 0, 8, 8)))
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-20] ^= 0xff // inside IDAT: its CRC no longer matches
	goodJPEG := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 8, 8)))
	for _, c := range []struct {
		name string
		file []byte
	}{
		{"empty", nil},
		{"text", []byte("hello, world")},
		{"GIF", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")},
		{"PNG signature only", good[:8]},
		{"truncated PNG", good[:len(good)/2]},
		{"corrupt PNG", corrupt},
		{"PNG with zero width", patchPNGSize(good, 0, 8)},
		{"truncated JPEG", goodJPEG[:len(goodJPEG)/2]},
		{"JPEG with zero height", patchJPEGSize(t, goodJPEG, 8, 0)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, _, err := grayimg.Decode(bytes.NewReader(c.file), grayimg.Limits{}); !errors.Is(err, grayimg.ErrFormat) {
				t.Errorf("Decode = %v, want ErrFormat", err)
			}
		})
	}
}

func TestDecodePassesOnReaderErrors(t *testing.T) {
	errBoom := errors.New("boom")
	file := encodePNG(t, image.NewGray(image.Rect(0, 0, 64, 64)))
	for _, n := range []int{0, 4, 20, 50, len(file) - 10} {
		r := io.MultiReader(bytes.NewReader(file[:n]), iotest.ErrReader(errBoom))
		if _, _, _, err := grayimg.Decode(r, grayimg.Limits{}); !errors.Is(err, errBoom) || errors.Is(err, grayimg.ErrFormat) {
			t.Errorf("Decode of %d bytes then an error = %v, want it to wrap only the reader's error", n, err)
		}
	}
	// A reader returning a byte at a time is fine.
	if _, _, _, err := grayimg.Decode(iotest.OneByteReader(bytes.NewReader(file)), grayimg.Limits{}); err != nil {
		t.Errorf("Decode from OneByteReader: %v", err)
	}
}

// roundTrip encodes pix and decodes the PNG back to 8-bit levels.
func roundTrip(t *testing.T, h, w int, pix []float64, s grayimg.Scale) []int {
	t.Helper()
	var buf bytes.Buffer
	if err := grayimg.EncodePNG(&buf, h, w, pix, s); err != nil {
		t.Fatalf("EncodePNG: %v", err)
	}
	file := buf.Bytes()
	img, err := png.Decode(bytes.NewReader(file))
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("EncodePNG wrote a %T, want 8-bit gray", img)
	}
	if b := g.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("EncodePNG wrote %d×%d, want %d×%d", b.Dy(), b.Dx(), h, w)
	}
	levels := make([]int, 0, h*w)
	for y := range h {
		for x := range w {
			levels = append(levels, int(g.GrayAt(x, y).Y))
		}
	}
	// What EncodePNG writes, Decode must read as level/255.
	_, _, back, err := grayimg.Decode(bytes.NewReader(file), grayimg.Limits{})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	for i, v := range back {
		if v != float64(levels[i])/255 {
			t.Fatalf("Decode(EncodePNG) pixel %d = %v, want %d/255", i, v, levels[i])
		}
	}
	return levels
}

func TestEncodePNG(t *testing.T) {
	for _, c := range []struct {
		name string
		h, w int
		pix  []float64
		s    grayimg.Scale
		want []int
	}{
		{"minmax of 0..1", 1, 3, []float64{0, 0.5, 1}, grayimg.Scale{Mode: grayimg.ModeMinMax}, []int{0, 128, 255}},
		{"minmax is the default", 1, 3, []float64{0, 0.5, 1}, grayimg.Scale{}, []int{0, 128, 255}},
		{"minmax of an edge map", 2, 3, []float64{-1, -0.5, 0, 0.25, 0.5, 1}, grayimg.Scale{}, []int{0, 64, 128, 159, 191, 255}},
		{"minmax stretches a narrow range", 1, 3, []float64{10, 10.1, 10.2}, grayimg.Scale{}, []int{0, 128, 255}},
		{"minmax of a constant image is black", 2, 2, []float64{0.7, 0.7, 0.7, 0.7}, grayimg.Scale{}, []int{0, 0, 0, 0}},
		{"minmax of a constant zero image is black", 1, 2, []float64{0, 0}, grayimg.Scale{}, []int{0, 0}},
		{"minmax near the float64 limits", 1, 3, []float64{-math.MaxFloat64, 0, math.MaxFloat64}, grayimg.Scale{}, []int{0, 128, 255}},
		{"minmax of subnormals", 1, 2, []float64{0, math.SmallestNonzeroFloat64}, grayimg.Scale{}, []int{0, 255}},
		{"clip to 0..1", 1, 6, []float64{-0.5, 0, 0.5, 1, 2, 0.2}, grayimg.Scale{Mode: grayimg.ModeClip, Lo: 0, Hi: 1}, []int{0, 0, 128, 255, 255, 51}},
		{"clip of an edge map", 1, 5, []float64{-1, -0.5, 0, 0.5, 1}, grayimg.Scale{Mode: grayimg.ModeClip, Lo: -1, Hi: 1}, []int{0, 64, 128, 191, 255}},
		{"clip of a constant image", 1, 2, []float64{0.5, 0.5}, grayimg.Scale{Mode: grayimg.ModeClip, Lo: 0, Hi: 1}, []int{128, 128}},
		{"clip of far outliers", 1, 3, []float64{-math.MaxFloat64, 3, math.MaxFloat64}, grayimg.Scale{Mode: grayimg.ModeClip, Lo: 2, Hi: 4}, []int{0, 128, 255}},
		{"clip with a huge range", 1, 3, []float64{-math.MaxFloat64, 0, math.MaxFloat64}, grayimg.Scale{Mode: grayimg.ModeClip, Lo: -math.MaxFloat64, Hi: math.MaxFloat64}, []int{0, 128, 255}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := roundTrip(t, c.h, c.w, c.pix, c.s)
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("EncodePNG(%v, %+v) levels mismatch (-want +got):\n%s", c.pix, c.s, diff)
			}
		})
	}
}

// Decoding an 8-bit gray PNG and encoding it with clip 0..1 gives back the
// same pixels.
func TestDecodeEncodeIsIdentityForGray(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	h, w, pix := decode(t, encodePNG(t, img))
	got := roundTrip(t, h, w, pix, grayimg.Scale{Mode: grayimg.ModeClip, Lo: 0, Hi: 1})
	for i, v := range got {
		if v != i {
			t.Fatalf("pixel %d = %d after Decode and EncodePNG, want %d", i, v, i)
		}
	}
}

func TestEncodePNGRejects(t *testing.T) {
	pix := []float64{0, 1, 2, 3}
	for _, c := range []struct {
		name string
		h, w int
		pix  []float64
		s    grayimg.Scale
	}{
		{"too few values", 2, 3, pix, grayimg.Scale{}},
		{"too many values", 1, 3, pix, grayimg.Scale{}},
		{"zero height", 0, 4, pix, grayimg.Scale{}},
		{"negative width", -2, -2, pix, grayimg.Scale{}},
		{"overflowing size", math.MaxInt, 2, pix, grayimg.Scale{}},
		{"NaN value", 2, 2, []float64{0, math.NaN(), 1, 2}, grayimg.Scale{}},
		{"infinite value", 2, 2, []float64{0, 1, math.Inf(-1), 2}, grayimg.Scale{Mode: grayimg.ModeClip, Lo: 0, Hi: 1}},
		{"unknown mode", 2, 2, pix, grayimg.Scale{Mode: "log"}},
		{"clip with lo = hi", 2, 2, pix, grayimg.Scale{Mode: grayimg.ModeClip, Lo: 1, Hi: 1}},
		{"clip with lo > hi", 2, 2, pix, grayimg.Scale{Mode: grayimg.ModeClip, Lo: 1, Hi: 0}},
		{"clip with NaN", 2, 2, pix, grayimg.Scale{Mode: grayimg.ModeClip, Lo: math.NaN(), Hi: 1}},
		{"clip with infinity", 2, 2, pix, grayimg.Scale{Mode: grayimg.ModeClip, Lo: 0, Hi: math.Inf(1)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := grayimg.EncodePNG(&buf, c.h, c.w, c.pix, c.s)
			if !errors.Is(err, grayimg.ErrInvalid) {
				t.Errorf("EncodePNG = %v, want ErrInvalid", err)
			}
			if buf.Len() != 0 {
				t.Errorf("EncodePNG wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	gray := image.NewGray(image.Rect(0, 0, 3, 2))
	copy(gray.Pix, []uint8{0, 50, 100, 150, 200, 250})
	nrgba := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	copy(nrgba.Pix, []uint8{255, 0, 0, 128, 0, 255, 0, 255, 0, 0, 255, 0, 9, 9, 9, 9})
	g16 := image.NewGray16(image.Rect(0, 0, 2, 1))
	pal := image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{color.Black, color.White})
	for _, img := range []image.Image{gray, nrgba, g16, pal} {
		f.Add(encodePNG(f, img))
	}
	f.Add(encodeJPEG(f, gray))
	f.Add(encodeJPEG(f, nrgba))
	f.Add(patchPNGSize(encodePNG(f, gray), 100000, 100000))
	f.Add([]byte("not an image"))
	for _, b := range grayimg.PNGSeeds(f) {
		f.Add(b)
	}

	// A small limit keeps the fuzzer from spending its time on huge
	// allocations that the real limit would allow.
	lim := grayimg.Limits{MaxPixels: 1 << 12}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Most mutations break a chunk's CRC; the same bytes with their
		// CRCs mended reach the image data.
		if fixed := mendCRCs(b); !bytes.Equal(fixed, b) {
			_, _, pix, err := grayimg.Decode(bytes.NewReader(fixed), lim)
			checkAgainstImagePNG(t, fixed, lim.MaxPixels, pix, err)
		}
		h, w, pix, err := grayimg.Decode(bytes.NewReader(b), lim)
		checkAgainstImagePNG(t, b, lim.MaxPixels, pix, err)
		if err != nil {
			if !errors.Is(err, grayimg.ErrFormat) && !errors.Is(err, grayimg.ErrTooLarge) {
				t.Fatalf("Decode error %v wraps no sentinel", err)
			}
			return
		}
		if h <= 0 || w <= 0 || h*w > lim.MaxPixels || len(pix) != h*w {
			t.Fatalf("Decode returned %d×%d with %d values", h, w, len(pix))
		}
		for i, v := range pix {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("pixel %d = %v, outside [0, 1]", i, v)
			}
		}
		if err := grayimg.EncodePNG(io.Discard, h, w, pix, grayimg.Scale{}); err != nil {
			t.Fatalf("EncodePNG of a decoded image: %v", err)
		}
	})
}

// mendCRCs returns a copy of a PNG with the CRC of each whole chunk
// recomputed.
func mendCRCs(b []byte) []byte {
	b = bytes.Clone(b)
	for i := 8; i+12 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[i:]))
		if n < 0 || n > len(b)-i-12 {
			break
		}
		binary.BigEndian.PutUint32(b[i+8+n:], crc32.ChecksumIEEE(b[i+4:i+8+n]))
		i += 12 + n
	}
	return b
}

// checkAgainstImagePNG holds Decode's answer for a PNG (pix or err) to
// image/png's: the same images accepted, with the same values, and the
// same refused.
func checkAgainstImagePNG(t *testing.T, b []byte, maxPixels int, pix []float64, err error) {
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		return
	}
	cfg, cerr := png.DecodeConfig(bytes.NewReader(b))
	if cerr != nil {
		if err == nil {
			t.Fatalf("Decode accepts a PNG whose header image/png refuses: %v", cerr)
		}
		return
	}
	if cfg.Width*cfg.Height > maxPixels {
		if !errors.Is(err, grayimg.ErrTooLarge) {
			t.Fatalf("Decode of a %d×%d PNG = %v, want ErrTooLarge", cfg.Width, cfg.Height, err)
		}
		return
	}
	img, perr := png.Decode(bytes.NewReader(b))
	switch {
	case perr != nil && err == nil:
		t.Fatalf("Decode accepts a PNG that image/png refuses: %v", perr)
	case perr == nil && err != nil:
		t.Fatalf("Decode refuses a PNG that image/png accepts: %v", err)
	case perr == nil:
		want := grayimg.Luminance(img)
		for i := range want {
			if pix[i] != want[i] {
				t.Fatalf("pixel %d = %v, image/png gives %v", i, pix[i], want[i])
			}
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	gray := image.NewGray(image.Rect(0, 0, 1024, 1024))
	rgba := image.NewRGBA(image.Rect(0, 0, 1024, 1024))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i*7 + i/1024)
	}
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(i*7 + i/4096)
	}
	rgba16 := image.NewNRGBA64(image.Rect(0, 0, 1024, 1024))
	for i := range rgba16.Pix {
		rgba16.Pix[i] = uint8(i*7 + i/8192)
	}
	for _, c := range []struct {
		name string
		file []byte
	}{
		{"gray.png", encodePNG(b, gray)},
		{"rgb.png", encodePNG(b, rgba)},
		{"rgba16.png", encodePNG(b, rgba16)},
		{"rgb.jpeg", encodeJPEG(b, rgba)},
	} {
		b.Run(fmt.Sprintf("size=1024x1024/%s", c.name), func(b *testing.B) {
			b.SetBytes(int64(len(c.file)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := grayimg.Decode(bytes.NewReader(c.file), grayimg.Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodePNG(b *testing.B) {
	pix := make([]float64, 1024*1024)
	for i := range pix {
		pix[i] = math.Sin(float64(i) / 100)
	}
	b.SetBytes(int64(len(pix)))
	b.ReportAllocs()
	for b.Loop() {
		if err := grayimg.EncodePNG(io.Discard, 1024, 1024, pix, grayimg.Scale{}); err != nil {
			b.Fatal(err)
		}
	}
}
