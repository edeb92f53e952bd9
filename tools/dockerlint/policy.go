package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Policy rule names, printed with each finding.
const (
	ruleRootUser    = "NonRootUser"
	ruleHealthcheck = "ExecFormHealthcheck"
	ruleEntrypoint  = "ExecFormEntrypoint"
	ruleRemoteAdd   = "NoRemoteAdd"
	rulePinnedBase  = "PinnedBaseImage"
	ruleCopyIgnored = "CopyIgnoredFile"
	ruleParse       = "ParseError"
)

// checkPolicy applies the rules this project holds its images to, beyond
// BuildKit's linter:
//
//   - the final stage ends as a user other than root;
//   - the final stage has a HEALTHCHECK in exec form, since a distroless image
//     has no shell to run the shell form;
//   - the final stage has an ENTRYPOINT in exec form, so the server is PID 1
//     and gets SIGTERM itself;
//   - no ADD fetches a URL or a git repository (they bypass the build context
//     and are not checksummed unless asked);
//   - every base image names a tag other than "latest", or a digest;
//   - nothing COPY takes from the build context is excluded by the
//     Dockerfile's ignore file (BuildKit's CopyIgnoredFile, which needs a
//     build client to run).
//
// ignore holds the patterns of <Dockerfile>.dockerignore, or nil.
func checkPolicy(file string, dt []byte, ignore []string) ([]finding, error) {
	ast, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		return []finding{{File: file, Line: errLine(err), Rule: ruleParse, Msg: err.Error()}}, nil
	}
	stages, metaArgs, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		return []finding{{File: file, Line: errLine(err), Rule: ruleParse, Msg: err.Error()}}, nil
	}
	if len(stages) == 0 {
		return []finding{{File: file, Rule: ruleParse, Msg: "no FROM instruction"}}, nil
	}

	var matcher *patternmatcher.PatternMatcher
	if len(ignore) > 0 {
		if matcher, err = patternmatcher.New(ignore); err != nil {
			return nil, fmt.Errorf("ignore file: %w", err)
		}
	}

	var out []finding
	add := func(loc []parser.Range, rule, format string, args ...any) {
		out = append(out, finding{File: file, Line: rangeLine(loc), Rule: rule, Msg: fmt.Sprintf(format, args...)})
	}

	defaults := argDefaults(metaArgs)
	seen := map[string]bool{} // stage names defined so far, lower-cased
	for _, st := range stages {
		checkBase(st, defaults, seen, add)
		if st.Name != "" {
			seen[strings.ToLower(st.Name)] = true
		}
		for _, cmd := range st.Commands {
			switch c := cmd.(type) {
			case *instructions.AddCommand:
				for _, src := range c.SourcePaths {
					if isRemote(src) {
						add(c.Location(), ruleRemoteAdd, "ADD fetches %q; download it in a RUN step with a checksum, or COPY it from the context", src)
					}
				}
			case *instructions.CopyCommand:
				if c.From == "" && matcher != nil {
					for _, src := range c.SourcePaths {
						if ignored(matcher, src) {
							add(c.Location(), ruleCopyIgnored, "COPY source %q is excluded by the ignore file", src)
						}
					}
				}
			}
		}
	}

	checkFinalStage(stages[len(stages)-1], add)
	return out, nil
}

// checkFinalStage applies the rules that concern the image that is shipped.
func checkFinalStage(st instructions.Stage, add func([]parser.Range, string, string, ...any)) {
	var user *instructions.UserCommand
	var health *instructions.HealthCheckCommand
	var entry *instructions.EntrypointCommand
	for _, cmd := range st.Commands {
		switch c := cmd.(type) {
		case *instructions.UserCommand:
			user = c
		case *instructions.HealthCheckCommand:
			health = c
		case *instructions.EntrypointCommand:
			entry = c
		}
	}

	switch {
	case user == nil:
		add(st.Location, ruleRootUser, "final stage sets no USER, so it runs as whatever the base image says, usually root")
	case isRoot(user.User):
		add(user.Location(), ruleRootUser, "final stage runs as %q; use an unprivileged user", user.User)
	}

	switch {
	case health == nil:
		add(st.Location, ruleHealthcheck, "final stage has no HEALTHCHECK")
	case len(health.Health.Test) == 0 || health.Health.Test[0] != "CMD":
		add(health.Location(), ruleHealthcheck, "HEALTHCHECK must be CMD in exec form, got %q", health.Health.Test)
	}

	switch {
	case entry == nil:
		add(st.Location, ruleEntrypoint, "final stage has no ENTRYPOINT")
	case entry.PrependShell:
		add(entry.Location(), ruleEntrypoint, "ENTRYPOINT is in shell form; use a JSON array so the server receives signals")
	}
}

// checkBase reports a FROM whose image is not pinned to a tag or digest.
func checkBase(st instructions.Stage, defaults map[string]string, stages map[string]bool, add func([]parser.Range, string, string, ...any)) {
	name := os.Expand(st.BaseName, func(k string) string { return defaults[k] })
	if name == "" {
		add(st.Location, rulePinnedBase, "base image %q expands to nothing", st.BaseName)
		return
	}
	if stages[strings.ToLower(name)] || strings.EqualFold(name, "scratch") {
		return
	}
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		add(st.Location, rulePinnedBase, "base image %q: %v", name, err)
		return
	}
	if _, ok := ref.(reference.Digested); ok {
		return
	}
	tagged, ok := ref.(reference.Tagged)
	switch {
	case !ok:
		add(st.Location, rulePinnedBase, "base image %q has no tag; name a release tag or a digest", name)
	case tagged.Tag() == "latest":
		add(st.Location, rulePinnedBase, "base image %q uses the moving tag \"latest\"", name)
	}
}

// argDefaults maps each ARG declared before the first FROM to its default.
func argDefaults(args []instructions.ArgCommand) map[string]string {
	m := map[string]string{}
	for _, a := range args {
		for _, kv := range a.Args {
			if kv.Value != nil {
				m[kv.Key] = *kv.Value
			} else {
				m[kv.Key] = ""
			}
		}
	}
	return m
}

// isRoot reports whether a USER value ("name", "uid", "name:group") is root.
func isRoot(user string) bool {
	u, _, _ := strings.Cut(user, ":")
	return u == "root" || u == "0" || u == ""
}

// isRemote reports whether an ADD source is fetched from the network.
func isRemote(src string) bool {
	for _, p := range []string{"http://", "https://", "git@", "git://", "ssh://"} {
		if strings.HasPrefix(strings.ToLower(src), p) {
			return true
		}
	}
	return false
}

// ignored reports whether a COPY source from the build context would be left
// out of the context. Sources with wildcards are checked as written, which is
// right for the common cases of "." and plain paths.
func ignored(m *patternmatcher.PatternMatcher, src string) bool {
	p := path.Clean(strings.TrimPrefix(src, "/"))
	if p == "." {
		return false
	}
	ok, err := m.MatchesOrParentMatches(p)
	return err == nil && ok
}

// readIgnoreFile returns the patterns in a .dockerignore file, or nil if the
// file does not exist.
func readIgnoreFile(name string) ([]string, error) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ignorefile.ReadAll(f)
}

func rangeLine(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}

func errLine(err error) int {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 {
		return rangeLine(le.Locations[0])
	}
	return 0
}
