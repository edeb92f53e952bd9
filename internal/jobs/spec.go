package jobs

import (
	"fmt"
	"math"
)

// FieldError is an invalid field of a request, named by its JSON pointer.
type FieldError struct {
	Pointer string
	Detail  string
}

// Error implements error.
func (e *FieldError) Error() string { return e.Pointer + ": " + e.Detail }

// Unwrap makes every FieldError an ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(pointer, format string, args ...any) error {
	return &FieldError{Pointer: pointer, Detail: fmt.Sprintf(format, args...)}
}

// Validate checks what the JSON shape alone cannot: that the sizes agree and
// the numbers make sense. Matrices are assumed rectangular and non-empty.
func (s Spec) Validate() error {
	h, w := len(s.Input), len(s.Input[0])
	kh, kw := s.KernelSize[0], s.KernelSize[1]
	switch {
	case kh < 1 || kw < 1:
		return invalid("/kernel_size", "must be at least [1, 1], got [%d, %d]", kh, kw)
	case kh > h || kw > w:
		return invalid("/kernel_size", "kernel [%d, %d] is larger than the %d×%d input", kh, kw, h, w)
	}
	if th, tw := len(s.Target), len(s.Target[0]); th != h-kh+1 || tw != w-kw+1 {
		return invalid("/target", "must be %d×%d (input %d×%d minus kernel plus one), got %d×%d",
			h-kh+1, w-kw+1, h, w, th, tw)
	}
	if !(s.LR > 0) || math.IsInf(s.LR, 0) {
		return invalid("/lr", "must be a finite number > 0, got %v", s.LR)
	}
	if s.Steps < 1 {
		return invalid("/steps", "must be at least 1, got %d", s.Steps)
	}
	if s.Loss != LossSum && s.Loss != LossMean {
		return invalid("/loss", `must be "sum" or "mean", got %q`, s.Loss)
	}
	switch {
	case s.Seed != nil && s.Init != nil:
		return invalid("/init", "give either seed or init, not both")
	case s.Seed == nil && s.Init == nil:
		return invalid("/seed", "give either seed or init")
	case s.Init != nil && (len(s.Init) != kh || len(s.Init[0]) != kw):
		return invalid("/init", "must be %d×%d like kernel_size, got %d×%d", kh, kw, len(s.Init), len(s.Init[0]))
	}
	return nil
}
