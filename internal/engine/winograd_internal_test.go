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
