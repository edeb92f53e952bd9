package grayimg

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"
)

// opaqueType hides the concrete type of an image, so that luminance takes
// its general path, the reference for the fast ones.
type opaqueType struct{ image.Image }

func TestLuminanceFastPathsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rect := image.Rect(0, 0, 7, 5) // odd sizes; rows shorter than the stride below
	fill := func(pix []uint8) {
		for i := range pix {
			pix[i] = uint8(rng.IntN(256))
		}
	}
	gray := image.NewGray(rect)
	fill(gray.Pix)
	gray16 := image.NewGray16(rect)
	fill(gray16.Pix)
	nrgba := image.NewNRGBA(rect)
	fill(nrgba.Pix)
	rgba := image.NewRGBA(rect)
	for i := 0; i < len(rgba.Pix); i += 4 {
		// Premultiplied: no channel may exceed alpha.
		a := rng.IntN(256)
		rgba.Pix[i+3] = uint8(a)
		for j := range 3 {
			rgba.Pix[i+j] = uint8(rng.IntN(a + 1))
		}
	}
	pal := image.NewPaletted(rect, color.Palette{color.White, color.NRGBA{200, 10, 30, 90}, color.Gray{77}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(rng.IntN(3))
	}
	ycc := image.NewYCbCr(rect, image.YCbCrSubsampleRatio420)
	fill(ycc.Y)
	fill(ycc.Cb)
	fill(ycc.Cr)
	// A sub-image has a stride wider than its rows and a non-zero origin.
	sub := func(img image.Image) image.Image {
		return img.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(image.Rect(1, 1, 6, 4))
	}

	for _, c := range []struct {
		name string
		img  image.Image
		tol  float64
	}{
		{"Gray", gray, 0},
		{"Gray16", gray16, 0},
		{"RGBA", rgba, 0},
		// The fast path premultiplies exactly; At().RGBA() rounds to
		// 16 bits first.
		{"NRGBA", nrgba, 1.0 / 65535},
		{"Paletted", pal, 0},
		{"YCbCr", ycc, 0},
		{"Gray sub-image", sub(gray), 0},
		{"RGBA sub-image", sub(rgba), 0},
		{"NRGBA sub-image", sub(nrgba), 1.0 / 65535},
		{"YCbCr sub-image", sub(ycc), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := luminance(c.img)
			want := luminance(opaqueType{c.img})
			for i := range want {
				if math.Abs(got[i]-want[i]) > c.tol || !(got[i] >= 0 && got[i] <= 1) {
					t.Fatalf("pixel %d = %v, reference %v", i, got[i], want[i])
				}
			}
		})
	}
}
