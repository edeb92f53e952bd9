package main

import (
	"context"
	"net"
	"net/url"
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
	ports    map[string]string   // the port CORR2D_ADDR listens on, per built service
}

type bindFS struct {
	Source string // absolute path on the host
	Target string // path in the container
}

// checkCompose loads compose.yaml the way `docker compose config` does, with
// the Compose specification's schema, interpolation and path resolution, and
// then checks that every build context, Dockerfile and bind-mount source it
// names exists in the repository; that every service has a health check and
// waits for each service it depends on to be healthy; and that the services
// built from this repository (the replicas) are at least two, on one
// PostgreSQL database that is itself a service.
func checkCompose(ctx context.Context, r *report, dir string) *composeFacts {
	c := &composeFacts{services: map[string]bool{}, built: map[string]bool{}, binds: map[string][]bindFS{}, ports: map[string]string{}}
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
		checkHealth(r, file, name, svc)
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
	checkReplicas(r, file, project, c)
	r.notef("%s: %d services load under the Compose schema", file, len(project.Services))
	return c
}

// checkHealth checks that svc has a health check of its own and starts
// only once each service it depends on is healthy.
func checkHealth(r *report, file, name string, svc types.ServiceConfig) {
	hc := svc.HealthCheck
	if hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		r.errorf(file, "service %s has no healthcheck", name)
	}
	for dep, d := range svc.DependsOn {
		if d.Condition != types.ServiceConditionHealthy {
			r.errorf(file, "service %s depends on %s with condition %q, want %s", name, dep, d.Condition, types.ServiceConditionHealthy)
		}
	}
}

// checkReplicas checks that at least two services run the server built
// here, all on the same PostgreSQL URL, whose host is a service.
func checkReplicas(r *report, file string, project *types.Project, c *composeFacts) {
	if len(c.built) < 2 {
		r.errorf(file, "%d services run the server, want two replicas at least", len(c.built))
	}
	urls := map[string]bool{}
	for name := range c.built {
		v := project.Services[name].Environment["CORR2D_DATABASE_URL"]
		if v == nil || *v == "" {
			r.errorf(file, "service %s has no CORR2D_DATABASE_URL: a replica needs the shared database", name)
			continue
		}
		urls[*v] = true
		if addr := project.Services[name].Environment["CORR2D_ADDR"]; addr != nil {
			_, c.ports[name], _ = net.SplitHostPort(*addr)
		} else {
			c.ports[name] = "8080" // the image's default
		}
		u, err := url.Parse(*v)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || !c.services[u.Hostname()] {
			r.errorf(file, "service %s: CORR2D_DATABASE_URL is not a postgres:// URL on a Compose service", name)
		}
	}
	if len(urls) > 1 {
		r.errorf(file, "the replicas use %d different database URLs, want one", len(urls))
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
