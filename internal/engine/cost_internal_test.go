package engine

import (
	"fmt"
	"testing"
)

// fftCostFloor lets chooseMethod skip the tiling search; it must never
// exceed what the search finds, or the choice would change.
func TestFFTCostFloorIsBelowTheFFTCost(t *testing.T) {
	for _, c := range []struct {
		x, w [4]int
		conv Conv
	}{
		{[4]int{1, 1, 1024, 1024}, [4]int{1, 1, 3, 3}, Conv{Padding: PadSame}},
		{[4]int{1, 1, 1024, 1024}, [4]int{1, 1, 31, 31}, Conv{}},
		{[4]int{1, 1, 4096, 4096}, [4]int{1, 1, 127, 127}, Conv{Padding: PadSame}},
		{[4]int{1, 1, 300, 7}, [4]int{1, 1, 63, 5}, Conv{Padding: PadFull}},
		{[4]int{8, 64, 56, 56}, [4]int{64, 64, 3, 3}, Conv{Pad: [4]int{1, 1, 1, 1}}},
		{[4]int{1, 3, 224, 224}, [4]int{64, 3, 7, 7}, Conv{Stride: [2]int{2, 2}, Pad: [4]int{3, 3, 3, 3}}},
		{[4]int{2, 4, 100, 90}, [4]int{4, 2, 5, 4}, Conv{Groups: 2, Dilation: [2]int{3, 2}}},
		{[4]int{1, 1, 2, 2}, [4]int{1, 1, 1, 1}, Conv{}},
		{[4]int{3, 2, 512, 512}, [4]int{5, 2, 15, 15}, Conv{Padding: PadSame, Border: BorderReflect}},
	} {
		t.Run(fmt.Sprintf("x=%v/w=%v", c.x, c.w), func(t *testing.T) {
			g, err := c.conv.resolve(c.x, c.w)
			if err != nil {
				t.Fatal(err)
			}
			for _, size := range []uintptr{4, 8} {
				lo, hi := fftCostFloor(g, size), fftCost(g, size)
				t.Logf("size %d: floor %.3g, cost %.3g, direct %.3g", size, lo, hi, directCost(g, size))
				if lo > hi {
					t.Errorf("size %d: fftCostFloor = %g, above fftCost = %g", size, lo, hi)
				}
			}
		})
	}
}
