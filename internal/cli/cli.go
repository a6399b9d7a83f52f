// Package cli is mapmesh's command line: the subcommands (serve, the
// default; version; snapshot save and restore; proxy-config; import),
// their flags and their exit statuses. cmd/mapmesh only calls Main.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/mapmesh/mapmesh/internal/server"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // the command line is wrong
)

// Version is the release, set at build time with
// -ldflags "-X github.com/mapmesh/mapmesh/internal/cli.Version=v1.2.3";
// otherwise the module version from the build info.
var Version = ""

// Env is what Main needs of the process.
type Env struct {
	Args           []string // without the program name
	Getenv         func(string) string
	Stdout, Stderr io.Writer
}

const usage = `mapmesh: a self-hosted AWS Cloud Map and App Mesh

Usage:
  mapmesh [serve] [flags]                       run the server (mapmesh serve --help for the flags)
  mapmesh version                               print the version
  mapmesh snapshot save [--endpoint URL] FILE   save a running server's state to FILE
  mapmesh snapshot restore --data-dir DIR FILE  create a data directory from FILE
  mapmesh snapshot restore --store etcd --etcd-endpoints URL[,URL] [--etcd-prefix P] FILE
                                                write FILE under an empty etcd prefix (TLS: the server's --etcd-* flags)
  mapmesh proxy-config [--endpoint URL] [--format json|table] NODE [listeners|routes|clusters|endpoints|all]
                                                print the Envoy configuration a running server serves NODE
  mapmesh import -f FILE|DIR [--dry-run]        make App Mesh controller manifests' resources on a server
  mapmesh help                                  this text
`

// Main runs the command line and returns the exit status.
func Main(e Env) int {
	if e.Getenv == nil {
		e.Getenv = os.Getenv
	}
	args := e.Args
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch {
	case cmd == "serve" && len(args) > 0 && (args[0] == "--version" || args[0] == "-version"):
		cmd, args = "version", args[1:]
	}
	switch cmd {
	case "serve":
		return serve(e, args)
	case "version":
		if len(args) > 0 {
			return usageError(e, "version takes no arguments")
		}
		fmt.Fprintln(e.Stdout, versionString())
		return exitOK
	case "snapshot":
		return snapshot(e, args)
	case "proxy-config":
		return proxyConfig(e, args)
	case "import":
		return importManifests(e, args)
	case "help", "-h", "--help":
		fmt.Fprint(e.Stdout, usage)
		return exitOK
	}
	return usageError(e, fmt.Sprintf("unknown command %q", cmd))
}

// usageError says what is wrong with the command line in one line, and
// where to look.
func usageError(e Env, msg string) int {
	fmt.Fprintf(e.Stderr, "mapmesh: %s (run 'mapmesh help')\n", msg)
	return exitUsage
}

// versionString is the version, the commit and the Go version.
func versionString() string {
	v, commit, dirty := Version, "", false
	bi, ok := debug.ReadBuildInfo()
	if ok && v == "" {
		v = bi.Main.Version
	}
	goVersion := "unknown"
	if ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	out := "mapmesh " + v
	if commit != "" {
		if len(commit) > 12 {
			commit = commit[:12]
		}
		out += " commit " + commit
		if dirty {
			out += "+dirty"
		}
	}
	return out + " " + goVersion
}

// serve runs the server until SIGINT or SIGTERM.
func serve(e Env, args []string) int {
	fs := flag.NewFlagSet("mapmesh serve", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	flags := server.NewFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(e.Stderr, "Usage: mapmesh [serve] [flags]\n\nEvery flag can also be set as MAPMESH_<FLAG> in the environment.\n\n")
		fs.PrintDefaults()
	}
	helped := false
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			helped = true
		}
	}
	if helped {
		fs.Usage()
		return exitOK
	}
	fs.Usage = func() {}     // a bad flag gets one line, below
	fs.SetOutput(io.Discard) // ... and only that one
	if err := flags.Parse(args, e.Getenv, e.Stderr); err != nil {
		return usageError(e, err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(e, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if e.Getenv("GOGC") == "" {
		paceGC() // GOGC in the environment wins
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	flags.Config.Logger.Info("mapmesh starting", "version", versionString())
	if err := server.Run(ctx, flags.Config); err != nil {
		flags.Config.Logger.Error("mapmesh stopped", "err", err)
		return exitError
	}
	return exitOK
}
