package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corr2d/corr2d/internal/auth"
)

func digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func TestParse(t *testing.T) {
	good := "# who role digest\n\nalice user " + digest("a") + "\n  root admin " + strings.ToUpper(digest("r")) + "  \n"
	set, err := auth.Parse(strings.NewReader(good))
	if err != nil {
		t.Fatalf("Parse(good) = %v", err)
	}
	if len(set) != 2 {
		t.Fatalf("Parse(good) has %d tokens, want 2", len(set))
	}
	for _, tc := range []struct{ name, text string }{
		{"two fields", "alice user\n"},
		{"an unknown role", "alice owner " + digest("a") + "\n"},
		{"a short digest", "alice user abcd\n"},
		{"a digest that is not hex", "alice user " + strings.Repeat("zz", 32) + "\n"},
		{"the same token twice", "alice user " + digest("a") + "\nbob user " + digest("a") + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := auth.Parse(strings.NewReader(tc.text)); !errors.Is(err, auth.ErrFormat) {
				t.Fatalf("Parse(%q) = %v, want ErrFormat", tc.text, err)
			}
		})
	}
}

func TestReloadReplacesTokensAndKeepsThemOnAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("alice user " + digest("a") + "\n")
	tokens, err := auth.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := tokens.Lookup("a"); !ok || p.Name != "alice" || p.Admin() {
		t.Fatalf("Lookup(a) = %+v, %v; want alice, a user", p, ok)
	}
	write("root admin " + digest("r") + "\n")
	if err := tokens.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := tokens.Lookup("a"); ok {
		t.Fatal("a removed token still works after Reload")
	}
	if p, ok := tokens.Lookup("r"); !ok || !p.Admin() {
		t.Fatalf("Lookup(r) = %+v, %v; want root, an admin", p, ok)
	}
	write("broken\n")
	if err := tokens.Reload(); err == nil {
		t.Fatal("Reload of a broken file succeeded")
	}
	if _, ok := tokens.Lookup("r"); !ok {
		t.Fatal("a failed Reload dropped the tokens it had")
	}
}
