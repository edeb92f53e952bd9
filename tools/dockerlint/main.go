// Command dockerlint checks a Dockerfile without a Docker engine.
//
// It runs BuildKit's own Dockerfile linter (the checks behind
// `docker build --check`) and then this project's policy for images it ships,
// and exits with status 1 if either finds anything, so CI can gate on it.
//
// Usage:
//
//	dockerlint [-platform os/arch] Dockerfile...
//
// Rules that BuildKit can only evaluate inside a real build are covered
// differently: base images are not pulled (there may be no registry to pull
// from), so a stand-in image config for the target platform is used, and
// CopyIgnoredFile, which needs a build client, is replaced by an equivalent
// policy check that reads <Dockerfile>.dockerignore itself.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errFindings) {
			fmt.Fprintln(os.Stderr, "dockerlint:", err)
		}
		os.Exit(1)
	}
}

// errFindings is returned by run when a Dockerfile has lint warnings, policy
// violations or parse errors; they have been printed already.
var errFindings = errors.New("findings reported")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dockerlint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	platform := fs.String("platform", "linux/amd64", "target platform the base images are assumed to provide")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no Dockerfile given")
	}

	total := 0
	for _, path := range fs.Args() {
		findings, err := lintFile(ctx, path, *platform)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, f := range findings {
			fmt.Fprintln(stdout, f)
		}
		if len(findings) == 0 {
			fmt.Fprintf(stdout, "%s: no findings\n", path)
		}
		total += len(findings)
	}
	if total > 0 {
		return errFindings
	}
	return nil
}

// lintFile runs every check over one Dockerfile.
func lintFile(ctx context.Context, path, platform string) ([]finding, error) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	findings, err := buildkitLint(ctx, path, dt, platform)
	if err != nil {
		return nil, err
	}
	ignore, err := readIgnoreFile(path + ".dockerignore")
	if err != nil {
		return nil, err
	}
	policy, err := checkPolicy(path, dt, ignore)
	if err != nil {
		return nil, err
	}
	findings = append(findings, policy...)
	slices.SortStableFunc(findings, func(a, b finding) int { return cmp.Compare(a.Line, b.Line) })
	return findings, nil
}

// finding is one problem at one place in a Dockerfile.
type finding struct {
	File string
	Line int // 0 when the problem has no single place
	Rule string
	Msg  string
}

func (f finding) String() string {
	if f.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", f.File, f.Line, f.Rule, f.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", f.File, f.Rule, f.Msg)
}
