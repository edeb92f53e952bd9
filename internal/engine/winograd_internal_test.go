package engine

import (
	"fmt"
	"testing"
)

// The cost model sends a ResNet block's 3×3 layer to the Winograd path
// where the GEMM microkernel runs it, and the 7×7 stem where the CPU has
// the stride-2 path's products microkernel, and never a layer Winograd
// cannot compute or one whose channels are too few to pay for the
// transforms.
func TestAutoPicksWinogradOnlyForManyChannel3x3Layers(t *testing.T) {
	pad1 := Conv{Pad: [4]int{1, 1, 1, 1}}
	for _, c := range []struct {
		x, w [4]int
		conv Conv
		want bool
	}{
		{[4]int{8, 64, 56, 56}, [4]int{64, 64, 3, 3}, pad1, true},
		{[4]int{1, 3, 224, 224}, [4]int{64, 3, 7, 7}, Conv{Stride: [2]int{2, 2}, Pad: [4]int{3, 3, 3, 3}}, true},
		{[4]int{1, 3, 224, 224}, [4]int{4, 3, 7, 7}, Conv{Stride: [2]int{2, 2}, Pad: [4]int{3, 3, 3, 3}}, false},
		{[4]int{1, 3, 224, 224}, [4]int{64, 3, 7, 7}, Conv{Stride: [2]int{2, 2}, Dilation: [2]int{2, 2}}, false},
		{[4]int{8, 64, 56, 56}, [4]int{64, 64, 3, 3}, Conv{Stride: [2]int{2, 2}}, false},
		{[4]int{8, 64, 56, 56}, [4]int{64, 64, 3, 3}, Conv{Dilation: [2]int{2, 2}}, false},
		{[4]int{1, 1, 1024, 1024}, [4]int{1, 1, 3, 3}, Conv{Padding: PadSame}, false},
		{[4]int{8, 2, 56, 56}, [4]int{16, 2, 3, 3}, pad1, false},
	} {
		for _, size := range []uintptr{4, 8} {
			t.Run(fmt.Sprintf("x=%v/w=%v/size=%d", c.x, c.w, size), func(t *testing.T) {
				g, err := c.conv.resolve(c.x, c.w)
				if err != nil {
					t.Fatal(err)
				}
				want := c.want && gemmSIMD()
				if useWino44(g) {
					want = c.want && winoProductsSIMD()
				}
				if got := chooseMethod(g, size) == MethodWinograd; got != want {
					t.Errorf("chooseMethod = %v (winograd cost %.3g, direct %.3g), want winograd %v",
						chooseMethod(g, size), winogradCost(g, size), directCost(g, size), want)
				}
			})
		}
	}
}

// Method "winograd" (and so MethodAuto) takes F(4×4, 3×3) for a ResNet
// block's 3×3 layer where the CPU has the products microkernel, and
// F(2×2, 3×3) where the channels are too few or the layer too small for
// the larger tiles to pay.
func TestWinogradPicks4x4TilesOnlyForManyChannels(t *testing.T) {
	pad1 := Conv{Pad: [4]int{1, 1, 1, 1}}
	for _, c := range []struct {
		x, w [4]int
		want bool
	}{
		{[4]int{8, 64, 56, 56}, [4]int{64, 64, 3, 3}, true},
		{[4]int{8, 16, 56, 56}, [4]int{16, 16, 3, 3}, false},
		{[4]int{8, 2, 56, 56}, [4]int{16, 2, 3, 3}, false},
		{[4]int{1, 128, 28, 28}, [4]int{128, 128, 3, 3}, false},
		{[4]int{1, 256, 14, 14}, [4]int{256, 256, 3, 3}, false},
	} {
		g, err := pad1.resolve(c.x, c.w)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []uintptr{4, 8} {
			if c.x[1] == 128 && size == 8 {
				continue // a near tie (PERF.md)
			}
			want := c.want && winoProductsSIMD()
			if got := wino43Pays(g, size); got != want {
				t.Errorf("x=%v w=%v size=%d: wino43Pays = %v (costs: 4x4 %.3g, 2x2 %.3g), want %v",
					c.x, c.w, size, got, wino43Cost(g, size), wino22Cost(g, size), want)
			}
		}
	}
	for _, tile := range []int{2, 4} {
		e := &Engine{winoTile: tile}
		g, _ := pad1.resolve([4]int{1, 1, 5, 5}, [4]int{1, 1, 3, 3})
		if got := useWino43(e, g, 4); got != (tile == 4) {
			t.Errorf("WinogradTile %d: useWino43 = %v, want %v", tile, got, tile == 4)
		}
	}
}

// Method "winograd" (and so MethodAuto) takes F(3×3, 4×4) for the 7×7 stem
// where the CPU has the products microkernel and the AVX-512 transforms
// (measured faster there in both precisions, PERF.md), F(2×2, 4×4)
// elsewhere and on the layers where it measured slower; Config.WinogradTile
// fixes either.
func TestWinogradStride2PicksTile3WhereItPays(t *testing.T) {
	s2 := func(p int) Conv { return Conv{Stride: [2]int{2, 2}, Pad: [4]int{p, p, p, p}} }
	for _, c := range []struct {
		x, w [4]int
		pad  int
		want bool
	}{
		{[4]int{1, 3, 224, 224}, [4]int{64, 3, 7, 7}, 3, true},
		{[4]int{1, 3, 64, 64}, [4]int{16, 3, 7, 7}, 3, false},
		{[4]int{2, 16, 56, 56}, [4]int{32, 16, 5, 5}, 2, false},
	} {
		g, err := s2(c.pad).resolve(c.x, c.w)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []uintptr{4, 8} {
			if got, want := wino34Pays(g, size), c.want && winoProductsSIMD(); got != want {
				t.Errorf("x=%v w=%v size=%d: wino34Pays = %v (costs: 3x3 %.3g, 2x2 %.3g), want %v",
					c.x, c.w, size, got, wino44Cost(g, size, 3), wino44Cost(g, size, 2), want)
			}
		}
	}
	g, err := s2(3).resolve([4]int{1, 3, 224, 224}, [4]int{64, 3, 7, 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, tile := range []int{2, 3} {
		e := &Engine{winoTile: tile}
		if got := useWino34(e, g, 4); got != (tile == 3) {
			t.Errorf("WinogradTile %d: useWino34 = %v, want %v", tile, got, tile == 3)
		}
	}
}
