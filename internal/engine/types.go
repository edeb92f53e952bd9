package engine

import "fmt"

// Float is the element type an engine computes in.
type Float interface{ ~float32 | ~float64 }

// Tensor is a dense row-major 4-D array: for data N×C×H×W, for weights
// O×(C/groups)×kh×kw. Element (a, b, c, d) is
// Data[((a*Shape[1]+b)*Shape[2]+c)*Shape[3]+d].
type Tensor[T Float] struct {
	Shape [4]int
	Data  []T
}

// Padding says how the input is padded before the correlation.
type Padding int

const (
	// PadExplicit pads by Conv.Pad: top, bottom, left, right.
	PadExplicit Padding = iota
	// PadValid does not pad.
	PadValid
	// PadSame makes the output H×W equal the input H×W; it needs stride 1.
	// Each axis is padded by dilation*(k-1) in total, total/2 before and the
	// rest (the odd extra cell) after, as PyTorch's padding="same" and
	// scipy's correlate2d do; with Convolve the odd extra cell goes before,
	// as scipy's convolve2d does.
	PadSame
	// PadFull pads every side by dilation*(k-1), as scipy's mode="full".
	PadFull
)

// Border is what the padded cells hold.
type Border int

const (
	// BorderZeros pads with the constant Conv.Fill (scipy's fillvalue),
	// zero by default.
	BorderZeros Border = iota
	// BorderReflect mirrors without repeating the edge, a b c d -> c b | a b
	// c d | c b: PyTorch "reflect", scipy.ndimage "mirror". Each pad must be
	// smaller than the input on its axis.
	BorderReflect
	// BorderReplicate repeats the edge, a b c d -> a a | a b c d | d d:
	// PyTorch "replicate", scipy.ndimage "nearest".
	BorderReplicate
	// BorderCircular wraps around, a b c d -> c d | a b c d | a b: PyTorch
	// "circular", scipy "wrap". Pads larger than the input wrap repeatedly.
	BorderCircular
	// BorderSymmetric mirrors repeating the edge, a b c d -> b a | a b c d |
	// d c: scipy "symm", scipy.ndimage "reflect". Pads larger than the input
	// mirror repeatedly.
	BorderSymmetric
)

// Conv holds the geometry of a convolution layer, with PyTorch's names. The
// zero value is a stride-1, undilated, ungrouped, unpadded correlation.
type Conv struct {
	Stride   [2]int // rows, columns; zero means 1
	Dilation [2]int // rows, columns; zero means 1
	Padding  Padding
	Pad      [4]int // top, bottom, left, right (PadExplicit only)
	Border   Border
	Fill     float64 // the padding value; must be 0 unless Border is BorderZeros
	Groups   int     // zero means 1
	// Convolve flips the kernel in both spatial axes first, making this a
	// true convolution (scipy convolve2d) rather than a cross-correlation.
	Convolve bool
	// Method picks the algorithm; the zero value, MethodAuto, lets the
	// engine choose by its cost model.
	Method Method
}

// Method is the algorithm Conv2D computes with.
type Method int

const (
	// MethodAuto picks the method the cost model (see chooseMethod)
	// predicts is fastest.
	MethodAuto Method = iota
	// MethodDirect sums each output element over its taps in the order of
	// the contract, in T, with SIMD kernels where the CPU has them.
	MethodDirect
	// MethodFFT multiplies 2-D discrete Fourier transforms, in complex128
	// for float64 and complex64 for float32 (see fft.go). Its cost hardly
	// depends on the kernel size, so it wins for large kernels; its error is
	// relative to the largest output magnitude of a plane, not to each
	// element (see fft.go). Strided outputs are subsampled from the stride-1
	// result, which wastes work but is exact.
	MethodFFT
	// MethodWinograd computes 3×3 layers with unit strides and dilations
	// by Winograd's minimal filtering F(2×2, 3×3), in T (see winograd.go),
	// or F(4×4, 3×3) on many-channel layers where the CPU has its products
	// microkernel and the cost model predicts it faster (see useWino43;
	// Config.WinogradTile fixes the choice): fewer multiply-adds than the
	// direct method, with errors of the rounding's size relative to the
	// output's scale rather than the direct method's order of summation.
	// It also computes stride-2 layers with 5×5 to 8×8 kernels by
	// F(2×2, 4×4) on the polyphase parts (see wino44.go), or F(3×3, 4×4)
	// where the CPU has its AVX-512 transforms and the cost model predicts
	// it faster (see useWino34). Other layers are refused.
	MethodWinograd
)

// String returns the method's name: "auto", "direct", "fft" or
// "winograd".
func (m Method) String() string {
	switch m {
	case MethodAuto:
		return "auto"
	case MethodDirect:
		return "direct"
	case MethodFFT:
		return "fft"
	case MethodWinograd:
		return "winograd"
	default:
		return fmt.Sprintf("Method(%d)", int(m))
	}
}

// Param names the argument or Conv field an invalid-parameter error is
// about, in the engine's own terms; callers map it to their own names.
type Param int

const (
	ParamInput      Param = iota + 1 // the data tensor x
	ParamKernel                      // the weights w, or kh×kw for the gradient
	ParamBias                        // the bias slice
	ParamStride                      // Conv.Stride
	ParamDilation                    // Conv.Dilation
	ParamPadding                     // Conv.Padding and Conv.Pad
	ParamBorder                      // Conv.Border
	ParamFill                        // Conv.Fill
	ParamGroups                      // Conv.Groups
	ParamMethod                      // Conv.Method
	ParamGradOutput                  // dy of Conv2DWeightGrad
	ParamOutput                      // the result, when it cannot be allocated
)

var paramNames = [...]string{
	ParamInput: "input", ParamKernel: "kernel", ParamBias: "bias", ParamStride: "stride",
	ParamDilation: "dilation", ParamPadding: "padding", ParamBorder: "border", ParamFill: "fill",
	ParamGroups: "groups", ParamMethod: "method", ParamGradOutput: "grad output", ParamOutput: "output",
}

// String returns the parameter's name in the engine's terms, for messages.
func (p Param) String() string {
	if p > 0 && int(p) < len(paramNames) {
		return paramNames[p]
	}
	return fmt.Sprintf("Param(%d)", int(p))
}

// ParamError is an invalid parameter or shape: Param says which, and Msg
// says what is wrong with it. It unwraps to ErrShape.
type ParamError struct {
	Param Param
	Msg   string
}

func (e *ParamError) Error() string { return "engine: " + e.Param.String() + ": " + e.Msg }

// Unwrap returns ErrShape, so that errors.Is(err, ErrShape) holds for every
// invalid request.
func (e *ParamError) Unwrap() error { return ErrShape }

func paramErr(p Param, format string, args ...any) *ParamError {
	return &ParamError{Param: p, Msg: fmt.Sprintf(format, args...)}
}

// Convert returns a copy of s with every element converted to T (rounded to
// nearest for float64 to float32, exact the other way); nil stays nil.
func Convert[T, F Float](s []F) []T {
	if s == nil {
		return nil
	}
	out := make([]T, len(s))
	for i, v := range s {
		out[i] = T(v)
	}
	return out
}
