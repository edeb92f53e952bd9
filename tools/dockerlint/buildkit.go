package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// buildkitLint runs the Dockerfile frontend the way `docker build --check`
// does: the file is parsed, every stage is converted, and each lint rule that
// fires is reported. A parse or conversion error is reported as a finding too.
func buildkitLint(ctx context.Context, path string, dt []byte, platform string) ([]finding, error) {
	p, err := platforms.Parse(platform)
	if err != nil {
		return nil, fmt.Errorf("bad -platform: %w", err)
	}
	p = platforms.Normalize(p)
	opt := dockerfile2llb.ConvertOpt{
		Config: dockerui.Config{
			TargetPlatforms: []ocispecs.Platform{p},
		},
		SourceMap:      sourceMap(path, dt),
		TargetPlatform: &p,
		MetaResolver:   offlineResolver{},
	}
	res, err := dockerfile2llb.DockerfileLint(ctx, dt, opt)
	if err != nil {
		return nil, err
	}

	var out []finding
	for _, w := range res.Warnings {
		out = append(out, finding{File: path, Line: firstLine(w.Location.GetRanges()), Rule: w.RuleName, Msg: w.Detail})
	}
	if res.Error != nil {
		out = append(out, finding{File: path, Line: firstLine(res.Error.Location.GetRanges()), Rule: "BuildError", Msg: res.Error.Message})
	}
	return out, nil
}

// firstLine returns the line a BuildKit location starts on, or 0 if none.
func firstLine[R interface{ GetStart() P }, P interface{ GetLine() int32 }](ranges []R) int {
	if len(ranges) == 0 {
		return 0
	}
	return int(ranges[0].GetStart().GetLine())
}

// offlineResolver stands in for a registry: every base image resolves to an
// empty image for the platform that was asked for. The lint rules only need
// the image's platform and default config, and a lint run must not depend on
// reaching a registry. What it cannot catch is a tag that does not exist.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	p := platforms.DefaultSpec()
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		p = *opt.ImageOpt.Platform
	}
	img := dockerspec.DockerOCIImage{
		Image: ocispecs.Image{
			Platform: p,
			RootFS:   ocispecs.RootFS{Type: "layers"},
		},
	}
	img.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	dt, err := json.Marshal(img)
	if err != nil {
		return "", "", nil, err
	}
	return ref, digest.FromBytes(dt), dt, nil
}

// sourceMap describes the Dockerfile for BuildKit's lint results. The
// definition is empty because nothing is sent to a build daemon.
func sourceMap(path string, dt []byte) *llb.SourceMap {
	sm := llb.NewSourceMap(nil, path, "Dockerfile", dt)
	sm.Definition = &llb.Definition{}
	return sm
}
