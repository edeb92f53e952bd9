package main

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestHelpListsSubcommandsAndEnvironment(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help", "help"} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), []string{arg}, func(string) string { return "" }, &out, &errOut); err != nil {
			t.Fatalf("run(%s) = %v, want nil (exit 0)", arg, err)
		}
		usage := out.String()
		for _, want := range []string{"healthcheck", "version", "Usage:"} {
			if !strings.Contains(usage, want) {
				t.Errorf("%s output lacks %q", arg, want)
			}
		}
		for _, name := range []string{"addr", "data-dir", "max-body-bytes", "log-level"} {
			if !strings.Contains(usage, "--"+name+" ") || !strings.Contains(usage, "["+envName(name)+"]") {
				t.Errorf("%s output lacks --%s with [%s]", arg, name, envName(name))
			}
		}
		if errOut.Len() != 0 {
			t.Errorf("%s wrote to stderr: %s", arg, errOut.String())
		}
	}
}

func TestEveryFlagHasItsVariableInTheUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := 0
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "  --") {
			lines++
			name := strings.Fields(line)[0][2:]
			if !strings.Contains(line, "["+envName(name)+"]") {
				t.Errorf("usage line %q lacks [%s]", line, envName(name))
			}
		}
	}
	if lines < 10 {
		t.Errorf("usage lists %d flags:\n%s", lines, out.String())
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{arg}, func(string) string { return "" }, &out, io.Discard); err != nil {
			t.Fatalf("run(%s) = %v", arg, err)
		}
		if got := out.String(); !strings.HasPrefix(got, "corr2d ") || !strings.Contains(got, runtime.Version()) {
			t.Errorf("run(%s) printed %q, want corr2d <version> (commit <commit>, %s)", arg, got, runtime.Version())
		}
	}
	// What -ldflags "-X main.version=... -X main.commit=..." stamps wins.
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v1.2.3", "0123abc"
	var out bytes.Buffer
	printVersion(&out)
	if want := "corr2d v1.2.3 (commit 0123abc, " + runtime.Version() + ")\n"; out.String() != want {
		t.Errorf("printVersion = %q, want %q", out.String(), want)
	}
}

func TestUnknownFlagIsAnError(t *testing.T) {
	if err := run(context.Background(), []string{"--no-such-flag"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Error("run(--no-such-flag) = nil, want an error (exit 1)")
	}
}
