package handlers

import (
	"strings"
	"testing"

	"github.com/corr2d/corr2d/internal/engine"
)

func TestEveryEngineParameterNamesARequestField(t *testing.T) {
	for p := engine.Param(1); !strings.HasPrefix(p.String(), "Param("); p++ {
		f, ok := paramFields[p]
		if !ok || !strings.HasPrefix(f.pointer, "/") || f.code == "" {
			t.Errorf("paramFields[%v] = %+v, want a JSON pointer and a problem code", p, f)
		}
	}
}
