package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/corr2d/corr2d/internal/grayimg"
	"github.com/corr2d/corr2d/internal/jsonscan"
	"github.com/corr2d/corr2d/internal/npy"
	"github.com/corr2d/corr2d/internal/tensor"
)

// Each kind of reader error has its answer in faultProblem: status, problem
// code, limit and pointer, wherever in the request it was read.
func TestFaultProblemAnswersEachKind(t *testing.T) {
	ute := &json.UnmarshalTypeError{Value: "string", Type: reflect.TypeFor[int](), Field: "groups"}
	own := invalidField(codeInvalidValue, "/x", "its own answer")
	tests := []struct {
		name    string
		err     error
		status  int
		code    string
		limit   string
		pointer string
	}{
		{"an answer of its own", fieldFault(own, "/input", "max_elements", ""), 422, codeInvalidValue, "", "/x"},
		{"a body over the limit", bodyFault(&http.MaxBytesError{Limit: 10}, "the body could not be read"), 413, codeTooLarge, "max_body_bytes", ""},
		{"a part over the body limit", fieldFault(fmt.Errorf("npy: %w", &http.MaxBytesError{Limit: 10}), "/input", "max_elements", "cannot be read"), 413, codeTooLarge, "max_body_bytes", ""},
		{"a long member", bodyFault(&jsonscan.TooLargeError{Member: "operation", InMember: true, Limit: 65536}, ""), 413, codeTooLarge, "max_field_bytes", "/operation"},
		{"a long token", bodyFault(&jsonscan.TooLargeError{Member: "padding", InMember: true, Token: true, Limit: 65536}, ""), 413, codeTooLarge, "max_field_bytes", "/padding"},
		{"a long key", bodyFault(&jsonscan.TooLargeError{Token: true, Limit: 65536}, ""), 413, codeTooLarge, "max_field_bytes", ""},
		{"a tensor that is not JSON", fieldFault(&tensor.Error{Kind: tensor.BadSyntax, Msg: "invalid JSON at byte 3"}, "/input", "max_elements", ""), 400, codeMalformedJSON, "", ""},
		{"a ragged tensor", fieldFault(&tensor.Error{Kind: tensor.BadShape, Pointer: "/1", Msg: "ragged"}, "/input", "max_elements", ""), 422, codeInvalidShape, "", "/input/1"},
		{"a tensor value", fieldFault(&tensor.Error{Kind: tensor.BadValue, Pointer: "/0/2", Msg: "must be a number"}, "/kernel", "max_kernel_elements", ""), 422, codeInvalidValue, "", "/kernel/0/2"},
		{"too large a tensor", fieldFault(&tensor.Error{Kind: tensor.TooLarge, Msg: "too many"}, "/kernel", "max_kernel_elements", ""), 413, codeTooLarge, "max_kernel_elements", "/kernel"},
		{"too large a .npy", fieldFault(fmt.Errorf("%w: 10 elements", npy.ErrTooLarge), "/input", "max_elements", "cannot be read"), 413, codeTooLarge, "max_elements", "/input"},
		{"too large an image", fieldFault(fmt.Errorf("%w: 9×9", grayimg.ErrTooLarge), "/input", "max_elements", "is not a readable image"), 413, codeTooLarge, "max_elements", "/input"},
		{"a malformed .npy", fieldFault(fmt.Errorf("%w: bad header", npy.ErrFormat), "/input", "max_elements", "cannot be read"), 422, codeInvalidValue, "", "/input"},
		{"an unreadable image", fieldFault(errors.New("png: invalid format"), "/input", "max_elements", "is not a readable image"), 422, codeInvalidValue, "", "/input"},
		{"a member of the wrong type", fieldFault(ute, "", "", "cannot be decoded"), 422, codeInvalidValue, "", "/groups"},
		{"a member inside a member", fieldFault(fieldFault(ute, "/optimizer", "", "cannot be decoded"), "", "", "cannot be decoded"), 422, codeInvalidValue, "", "/optimizer/groups"},
		{"a body that cannot be read", bodyFault(errors.New("gzip: invalid header"), "the body could not be read"), 400, codeMalformedJSON, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			if got.status != tt.status || got.code != tt.code || got.limit != tt.limit || got.pointer != tt.pointer {
				t.Errorf("classify(%v) = %d %s limit %q pointer %q; want %d %s limit %q pointer %q",
					tt.err, got.status, got.code, got.limit, got.pointer, tt.status, tt.code, tt.limit, tt.pointer)
			}
		})
	}
}
