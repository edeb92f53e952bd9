// Package auth says who a request comes from: bearer tokens, kept as their
// SHA-256 digests in a file of one line per token, each naming a principal
// and its role.
package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
)

// Role is what a principal may do: a user sees and manages its own jobs,
// an admin every job.
type Role string

// The roles a tokens file may name.
const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
)

// Principal is who a request comes from.
type Principal struct {
	Name string
	Role Role
}

// Admin reports whether p may see and manage every job.
func (p Principal) Admin() bool { return p.Role == RoleAdmin }

// ErrFormat reports a tokens file that cannot be read as one.
var ErrFormat = errors.New("auth: malformed tokens file")

// Tokens is the set of known tokens, read from a file and replaced whole
// by Reload; lookups never see a half-read file.
type Tokens struct {
	path string
	set  atomic.Pointer[map[[sha256.Size]byte]Principal]
}

// Load reads the tokens file at path. Each line is
//
//	<principal> <role> <sha256 hex of the token>
//
// with role user or admin; blank lines and lines starting with # are
// skipped. The tokens themselves never touch the disk.
func Load(path string) (*Tokens, error) {
	t := &Tokens{path: path}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload reads the file again and, if it is valid, replaces the tokens;
// an invalid file leaves the tokens as they were.
func (t *Tokens) Reload() error {
	f, err := os.Open(t.path)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	defer func() { _ = f.Close() }()
	set, err := Parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", t.path, err)
	}
	t.set.Store(&set)
	return nil
}

// Len returns how many tokens are known.
func (t *Tokens) Len() int { return len(*t.set.Load()) }

// Lookup returns the principal whose token this is. Tokens are compared by
// digest: the map holds no secret, and a lookup's timing says nothing
// useful about a token that is not in it.
func (t *Tokens) Lookup(token string) (Principal, bool) {
	p, ok := (*t.set.Load())[sha256.Sum256([]byte(token))]
	return p, ok
}

// Parse reads a tokens file (see Load) into a map from digest to
// principal. A digest given twice is an error, as is an unknown role.
func Parse(r io.Reader) (map[[sha256.Size]byte]Principal, error) {
	set := map[[sha256.Size]byte]Principal{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		f := strings.Fields(string(line))
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: line %d: want <principal> <role> <sha256 hex>, got %d fields", ErrFormat, n, len(f))
		}
		role := Role(f[1])
		if role != RoleUser && role != RoleAdmin {
			return nil, fmt.Errorf("%w: line %d: role %.20q, want user or admin", ErrFormat, n, f[1])
		}
		var sum [sha256.Size]byte
		if len(f[2]) != hex.EncodedLen(sha256.Size) {
			return nil, fmt.Errorf("%w: line %d: want 64 hex digits of a SHA-256", ErrFormat, n)
		}
		if _, err := hex.Decode(sum[:], []byte(strings.ToLower(f[2]))); err != nil {
			return nil, fmt.Errorf("%w: line %d: want 64 hex digits of a SHA-256", ErrFormat, n)
		}
		if _, dup := set[sum]; dup {
			return nil, fmt.Errorf("%w: line %d: the same token is given twice", ErrFormat, n)
		}
		set[sum] = Principal{Name: f[0], Role: role}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return set, nil
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of ctx; false for a request of an open
// server, which has none.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
