// Command deploycheck validates the files under deploy/ that no engine here
// can exercise: the Grafana provisioning and dashboards, the Compose file and
// the Prometheus configuration and the load balancer's, each on its own and
// against the others.
//
// Usage:
//
//	deploycheck DEPLOY_DIR
//
// It prints one line per problem and exits with status 1 if there was any.
// See the check functions for what each file is held to.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "deploycheck:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: deploycheck DEPLOY_DIR")
	}
	r := check(ctx, args[0])
	for _, p := range r.problems {
		fmt.Fprintln(stdout, p)
	}
	for _, n := range r.notes {
		fmt.Fprintln(stdout, "ok:", n)
	}
	if len(r.problems) > 0 {
		return fmt.Errorf("%d problem(s) in %s", len(r.problems), args[0])
	}
	return nil
}

// report collects problems (which fail the run) and notes on what was checked.
type report struct {
	problems []string
	notes    []string
}

func (r *report) errorf(file, format string, args ...any) {
	r.problems = append(r.problems, file+": "+fmt.Sprintf(format, args...))
}

func (r *report) notef(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// check runs every check over the deploy directory dir.
func check(ctx context.Context, dir string) *report {
	r := &report{}
	g := checkGrafana(r, dir)
	c := checkCompose(ctx, r, dir)
	checkPrometheus(r, dir, g, c)
	checkHAProxy(r, dir, c)
	checkCrossRefs(r, g, c)
	return r
}
