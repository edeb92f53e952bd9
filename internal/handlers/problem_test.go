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

func TestClipCutsAtARuneBoundary(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "abc…"},
		{"aé", 2, "a…"}, // é is two bytes: not cut in half
		{"aéb", 3, "aé…"},
		{"\xff\xff\xff\xff", 2, "\xff\xff…"},
	}
	for _, tt := range tests {
		if got := clip(tt.s, tt.n); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestMemberPointerEscapesAndClipsTheKey(t *testing.T) {
	tests := []struct{ ptr, key, want string }{
		{"", "input", "/input"},
		{"/optimizer", "Name", "/optimizer/Name"},
		{"", "a/b~c", "/a~1b~0c"},
		{"", strings.Repeat("k", 10*maxQuoted), "/" + strings.Repeat("k", maxQuoted) + "…"},
	}
	for _, tt := range tests {
		if got := memberPointer(tt.ptr, tt.key); got != tt.want {
			t.Errorf("memberPointer(%q, %.20q) = %.40q, want %.40q", tt.ptr, tt.key, got, tt.want)
		}
	}
}

func TestEveryProblemTypeHasItsOwnTitle(t *testing.T) {
	seen := map[string]string{}
	for code, title := range problemTitles {
		if title == "" {
			t.Errorf("problem type %s has no title", code)
		}
		if other, ok := seen[title]; ok {
			t.Errorf("problem types %s and %s share the title %q", code, other, title)
		}
		seen[title] = code
	}
}
