package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeFacts is what compose.yaml declares, for the cross-file checks.
type composeFacts struct {
	services map[string]bool     // service names
	built    map[string]bool     // services built from a Dockerfile in the repo
	binds    map[string][]bindFS // bind mounts per service
}

type bindFS struct {
	Source string // absolute path on the host
	Target string // path in the container
}

// checkCompose loads compose.yaml the way `docker compose config` does, with
// the Compose specification's schema, interpolation and path resolution, and
// then checks that every build context, Dockerfile and bind-mount source it
// names exists in the repository.
func checkCompose(ctx context.Context, r *report, dir string) *composeFacts {
	c := &composeFacts{services: map[string]bool{}, built: map[string]bool{}, binds: map[string][]bindFS{}}
	file := filepath.Join(dir, "compose.yaml")
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(dir),
		cli.WithOsEnv,
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		r.errorf(file, "%v", err)
		return c
	}
	project, err := opts.LoadProject(ctx)
	if err != nil {
		r.errorf(file, "does not load: %v", err)
		return c
	}

	for name, svc := range project.Services {
		c.services[name] = true
		if svc.Build != nil {
			c.built[name] = true
			if !exists(svc.Build.Context) {
				r.errorf(file, "service %s: build context %s does not exist", name, svc.Build.Context)
			}
			df := svc.Build.Dockerfile
			if !filepath.IsAbs(df) {
				df = filepath.Join(svc.Build.Context, df)
			}
			if !exists(df) {
				r.errorf(file, "service %s: Dockerfile %s does not exist", name, df)
			}
		}
		if svc.Image == "" && svc.Build == nil {
			r.errorf(file, "service %s has neither image nor build", name)
		}
		for _, v := range svc.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if !exists(v.Source) {
				r.errorf(file, "service %s: bind-mount source %s does not exist", name, v.Source)
			}
			c.binds[name] = append(c.binds[name], bindFS{Source: filepath.Clean(v.Source), Target: v.Target})
		}
	}
	r.notef("%s: %d services load under the Compose schema", file, len(project.Services))
	return c
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
