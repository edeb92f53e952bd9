package handlers

import (
	"bytes"
	"encoding/json"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/tensor"
)

// convParams is a convolution layer's geometry as the API spells it, with
// PyTorch's names; /corr2d and /train share it.
type convParams struct {
	Stride      json.RawMessage `json:"stride,omitempty"`
	Padding     json.RawMessage `json:"padding,omitempty"`
	Dilation    json.RawMessage `json:"dilation,omitempty"`
	Groups      *int            `json:"groups,omitempty"`
	PaddingMode *string         `json:"padding_mode,omitempty"`
}

// borders maps padding_mode to the engine's borders.
var borders = map[string]engine.Border{
	"zeros":     engine.BorderZeros,
	"reflect":   engine.BorderReflect,
	"replicate": engine.BorderReplicate,
	"circular":  engine.BorderCircular,
	"symmetric": engine.BorderSymmetric,
}

// conv resolves the wire form into the engine's Conv. The engine checks
// the values against the shapes; this checks only their form.
func (p convParams) conv() (engine.Conv, error) {
	var c engine.Conv
	var err error
	if c.Stride, err = pair(p.Stride, "/stride"); err != nil {
		return c, err
	}
	if c.Dilation, err = pair(p.Dilation, "/dilation"); err != nil {
		return c, err
	}
	if p.Groups != nil {
		if *p.Groups < 1 {
			return c, invalidField(codeInvalidValue, "/groups", "must be at least 1")
		}
		c.Groups = *p.Groups
	}
	if p.PaddingMode != nil {
		b, ok := borders[*p.PaddingMode]
		if !ok {
			return c, invalidField(codeInvalidValue, "/padding_mode", `must be "zeros", "reflect", "replicate", "circular" or "symmetric"`)
		}
		c.Border = b
	}
	c.Padding, c.Pad, err = padding(p.Padding)
	return c, err
}

// pair reads an int or [h, w], each at least 1; absent means 1.
func pair(raw json.RawMessage, ptr string) ([2]int, error) {
	if isNull(raw) {
		return [2]int{1, 1}, nil
	}
	var n int
	if json.Unmarshal(raw, &n) == nil {
		if n < 1 {
			return [2]int{}, invalidField(codeInvalidValue, ptr, "must be at least 1")
		}
		return [2]int{n, n}, nil
	}
	var hw []int
	if json.Unmarshal(raw, &hw) != nil || len(hw) != 2 {
		return [2]int{}, invalidField(codeInvalidValue, ptr, "must be an integer or [h, w]")
	}
	if hw[0] < 1 || hw[1] < 1 {
		return [2]int{}, invalidField(codeInvalidValue, ptr, "must be at least 1")
	}
	return [2]int{hw[0], hw[1]}, nil
}

// padding reads an int, [ph, pw], [top, bottom, left, right], or one of
// "valid", "same" and "full"; absent means no padding.
func padding(raw json.RawMessage) (engine.Padding, [4]int, error) {
	const ptr = "/padding"
	if isNull(raw) {
		return engine.PadValid, [4]int{}, nil
	}
	var name string
	if json.Unmarshal(raw, &name) == nil {
		switch name {
		case "valid":
			return engine.PadValid, [4]int{}, nil
		case "same":
			return engine.PadSame, [4]int{}, nil
		case "full":
			return engine.PadFull, [4]int{}, nil
		}
		return 0, [4]int{}, invalidField(codeInvalidValue, ptr, `must be an integer, [ph, pw], [top, bottom, left, right], "valid", "same" or "full"`)
	}
	var ints []int
	var n int
	switch {
	case json.Unmarshal(raw, &n) == nil:
		ints = []int{n, n, n, n}
	case json.Unmarshal(raw, &ints) == nil && len(ints) == 2:
		ints = []int{ints[0], ints[0], ints[1], ints[1]}
	case len(ints) != 4:
		return 0, [4]int{}, invalidField(codeInvalidValue, ptr, `must be an integer, [ph, pw], [top, bottom, left, right], "valid", "same" or "full"`)
	}
	for _, v := range ints {
		if v < 0 {
			return 0, [4]int{}, invalidField(codeInvalidValue, ptr, "must not be negative")
		}
	}
	return engine.PadExplicit, [4]int(ints), nil
}

// isNull reports whether a member is absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// parseTensor reads a tensor field within the limits.
func parseTensor(raw json.RawMessage, ptr, limit string, lim tensor.Limits) (tensor.Dense, error) {
	if isNull(raw) {
		return tensor.Dense{}, invalidField(codeInvalidValue, ptr, "is required")
	}
	t, err := tensor.Parse(raw, lim)
	if err != nil {
		return t, fieldFault(err, ptr, limit, "")
	}
	return t, nil
}

// lift makes a 2-D H×W or 3-D C×H×W tensor 4-D, as PyTorch treats them:
// one image, one channel.
func lift(t tensor.Dense) [4]int {
	s := t.Shape
	switch len(s) {
	case 2:
		return [4]int{1, 1, s[0], s[1]}
	case 3:
		return [4]int{1, s[0], s[1], s[2]}
	}
	return [4]int(s)
}

// dtype reads "float64" (the default) or "float32".
func dtype(raw *string, def string) (string, error) {
	if raw == nil {
		return def, nil
	}
	if *raw != "float64" && *raw != "float32" {
		return "", invalidField(codeInvalidValue, "/dtype", `must be "float64" or "float32"`)
	}
	return *raw, nil
}
