package main

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// version and commit are stamped at build time, as deploy/Dockerfile does:
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=$(git rev-parse HEAD)" -o corr2d ./cmd/server
//
// Left empty, they come from the build info Go records (the module version
// and the VCS revision of a build in a git checkout).
var (
	version string
	commit  string
)

// buildVersion reports the version, the commit and the Go release of this
// binary.
func buildVersion() (ver, rev, goVersion string) {
	ver, rev, goVersion = version, commit, "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return orUnknown(ver), orUnknown(rev), goVersion
	}
	goVersion = info.GoVersion
	if ver == "" {
		ver = info.Main.Version
	}
	if rev == "" {
		dirty := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" && dirty {
			rev += "-dirty"
		}
	}
	return orUnknown(ver), orUnknown(rev), goVersion
}

func orUnknown(s string) string {
	if s == "" || s == "(devel)" {
		return "unknown"
	}
	return s
}

func printVersion(w io.Writer) {
	ver, rev, goVersion := buildVersion()
	_, _ = fmt.Fprintf(w, "corr2d %s (commit %s, %s)\n", ver, rev, goVersion) // as for the usage
}

// isVersion and isHelp tell the arguments that ask for the version or the
// usage rather than a server.
func isVersion(args []string) bool {
	return len(args) > 0 && (args[0] == "version" || args[0] == "--version" || args[0] == "-version")
}

func isHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "help":
			return true
		case "--", "-":
			return false
		}
	}
	return false
}

// usage prints how to run the binary: its subcommands, then every flag
// with the environment variable that also sets it.
func usage(fs *flag.FlagSet) func() {
	return func() {
		var b strings.Builder
		b.WriteString(`corr2d serves 2-D cross-correlation and convolution-kernel training over HTTP.

Usage:
  corr2d [flags]               run the server
  corr2d healthcheck [flags]   exit 0 if the server on this host (--addr) answers /healthz, else 1
  corr2d version               print the version, commit and Go release (also --version)

Flags (each can also be set by the environment variable in brackets; a flag
on the command line wins):
`)
		fs.VisitAll(func(f *flag.Flag) {
			kind, help := flag.UnquoteUsage(f)
			b.WriteString("  --" + f.Name)
			if kind != "" {
				b.WriteString(" " + kind)
			}
			b.WriteString("  [" + envName(f.Name) + "]\n      " + help)
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
				b.WriteString(" (default " + f.DefValue + ")")
			}
			b.WriteString("\n")
		})
		_, _ = io.WriteString(fs.Output(), b.String()) // nowhere to report a failed write of the usage
	}
}

// envName is the environment variable of a flag: CORR2D_ and the flag's
// name in capitals, dashes as underscores.
func envName(flagName string) string {
	return "CORR2D_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
