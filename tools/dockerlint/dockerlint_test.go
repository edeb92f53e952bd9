package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// good is a Dockerfile that every check accepts; the cases below break it
// one rule at a time.
const good = `FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod ./
RUN go build -o /out/app .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
USER nonroot:nonroot
HEALTHCHECK CMD ["/app", "healthcheck"]
ENTRYPOINT ["/app"]
`

func TestLintFile(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		ignore     string // contents of Dockerfile.dockerignore, if any
		want       []string
	}{
		{name: "the reference file has no findings", dockerfile: good},
		{
			name:       "a final stage without USER runs as root",
			dockerfile: without(good, "USER nonroot:nonroot\n"),
			want:       []string{ruleRootUser},
		},
		{
			name:       "USER root is rejected",
			dockerfile: replace(good, "USER nonroot:nonroot", "USER 0:0"),
			want:       []string{ruleRootUser},
		},
		{
			name:       "a missing HEALTHCHECK is reported",
			dockerfile: without(good, "HEALTHCHECK CMD [\"/app\", \"healthcheck\"]\n"),
			want:       []string{ruleHealthcheck},
		},
		{
			name:       "a shell-form HEALTHCHECK is reported",
			dockerfile: replace(good, `HEALTHCHECK CMD ["/app", "healthcheck"]`, "HEALTHCHECK CMD /app healthcheck"),
			want:       []string{ruleHealthcheck},
		},
		{
			name:       "a shell-form ENTRYPOINT is reported by BuildKit and by policy",
			dockerfile: replace(good, `ENTRYPOINT ["/app"]`, "ENTRYPOINT /app"),
			want:       []string{"JSONArgsRecommended", ruleEntrypoint},
		},
		{
			name:       "ADD of a URL is reported",
			dockerfile: replace(good, "WORKDIR /src", "WORKDIR /src\nADD https://example.com/x.tgz /x.tgz"),
			want:       []string{ruleRemoteAdd},
		},
		{
			name:       "an untagged base image is reported",
			dockerfile: replace(good, "golang:1.26-bookworm", "golang"),
			want:       []string{rulePinnedBase},
		},
		{
			name:       "the latest tag is reported even through an ARG",
			dockerfile: "ARG BASE=alpine:latest\n" + replace(good, "golang:1.26-bookworm", "${BASE}"),
			want:       []string{rulePinnedBase},
		},
		{
			name:       "a digest pins a base image",
			dockerfile: replace(good, "golang:1.26-bookworm", "golang@sha256:"+sixtyFourHex),
		},
		{
			name:       "copying an ignored file is reported",
			dockerfile: good,
			ignore:     "go.*\n",
			want:       []string{ruleCopyIgnored},
		},
		{
			name:       "BuildKit style rules fire",
			dockerfile: replace(good, "AS build", "AS Build"),
			want:       []string{"StageNameCasing"},
		},
		{
			name:       "an unknown flag is a parse error",
			dockerfile: replace(good, "RUN go build", "RUN --bogus=1 go build"),
			want:       []string{"BuildError", ruleParse},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "Dockerfile")
			write(t, path, tt.dockerfile)
			if tt.ignore != "" {
				write(t, path+".dockerignore", tt.ignore)
			}
			findings, err := lintFile(context.Background(), path, "linux/amd64")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range findings {
				got = append(got, f.Rule)
			}
			slices.Sort(got)
			slices.Sort(tt.want)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lintFile rules mismatch (-want +got):\n%s\nfindings: %v", diff, findings)
			}
		})
	}
}

func TestProjectDockerfileIsClean(t *testing.T) {
	findings, err := lintFile(context.Background(), filepath.Join("..", "..", "deploy", "Dockerfile"), "linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Error(f)
	}
}

const sixtyFourHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("replace: " + old + " not found")
	}
	return strings.Replace(s, old, new, 1)
}

func without(s, old string) string { return replace(s, old, "") }

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
