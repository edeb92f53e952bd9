package main

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// checkHAProxy checks haproxy/haproxy.cfg beyond what `haproxy -c` checks
// (.ci/deploy-checks.sh runs that): its servers are exactly the replicas
// compose.yaml builds, each on the port its CORR2D_ADDR listens on, and
// they are taken in and out of rotation by /readyz, which fails while a
// replica drains or has lost its database.
func checkHAProxy(r *report, dir string, c *composeFacts) {
	file := filepath.Join(dir, "haproxy", "haproxy.cfg")
	data, err := os.ReadFile(file)
	if err != nil {
		r.errorf(file, "%v", err)
		return
	}
	var servers []string
	readyz := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "server":
			host, port, err := net.SplitHostPort(f[2])
			switch {
			case err != nil:
				r.errorf(file, "server %s: address %q is not host:port", f[1], f[2])
			case !c.built[host]:
				r.errorf(file, "server %s: %q is not a replica that compose.yaml builds", f[1], host)
			case c.ports[host] != port:
				r.errorf(file, "server %s: port %s, but %s listens on %q", f[1], port, host, c.ports[host])
			}
			servers = append(servers, host)
		case len(f) >= 4 && f[0] == "option" && f[1] == "httpchk":
			readyz = readyz || f[3] == "/readyz"
		}
	}
	for name := range c.built {
		if !slices.Contains(servers, name) {
			r.errorf(file, "replica %s is not a server of the load balancer", name)
		}
	}
	if !readyz {
		r.errorf(file, "no `option httpchk GET /readyz`: replicas that drain or lose the database would stay in rotation")
	}
	r.notef("%s: %d servers", file, len(servers))
}
