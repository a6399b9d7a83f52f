// Command mapmesh is a self-hosted AWS Cloud Map and App Mesh: it serves
// both APIs, DNS for Cloud Map namespaces, health checks and an xDS
// control plane from an embedded, durable store.
//
//	mapmesh [serve] [flags]      run the server (the default)
//	mapmesh version
//	mapmesh snapshot save|restore ...
//	mapmesh proxy-config NODE [listeners|routes|clusters|endpoints|all]
//	mapmesh help
//
// Every flag can also be set as MAPMESH_<FLAG> in the environment; see
// mapmesh serve --help.
package main

import (
	"os"

	"github.com/mapmesh/mapmesh/internal/cli"
)

func main() {
	os.Exit(cli.Main(cli.Env{Args: os.Args[1:], Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr}))
}
