// Package test holds repository hygiene checks; the black-box suites live
// in its subdirectories.
package test

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath   string
	Name         string
	Dir          string
	Doc          string
	GoFiles      []string
	TestGoFiles  []string
	XTestGoFiles []string
	Imports      []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "github.com/mapmesh/mapmesh/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// TestPackageDocs: every package with non-test code has exactly one package
// doc comment.
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc", p.ImportPath)
		}
		n := 0
		for _, f := range p.GoFiles {
			// Parsing the package clause and its comment is enough (a go
			// list per file took most of this test's time).
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err == nil && file.Doc != nil && strings.TrimSpace(file.Doc.Text()) != "" {
				n++
			}
		}
		if n > 1 {
			t.Errorf("package %s has %d files with a package doc; want 1", p.ImportPath, n)
		}
	}
}

// TestFileNames: no hyphens in Go file names (Go style).
func TestFileNames(t *testing.T) {
	for _, p := range listPackages(t) {
		for _, files := range [][]string{p.GoFiles, p.TestGoFiles, p.XTestGoFiles} {
			for _, f := range files {
				if strings.Contains(f, "-") {
					t.Errorf("%s: hyphen in file name %s", p.ImportPath, f)
				}
			}
		}
	}
}

// TestLayering keeps the protocol at the edge: domain packages reach the wire
// only through awsapi, and the store only through the store contract.
func TestLayering(t *testing.T) {
	forbidden := map[string][]string{
		"github.com/mapmesh/mapmesh/internal/cloudmap": {"net/http", "go.etcd.io/bbolt", "go.etcd.io/etcd", "github.com/miekg/dns",
			"github.com/envoyproxy/go-control-plane", "github.com/mapmesh/mapmesh/internal/store/boltstore", "github.com/mapmesh/mapmesh/internal/server"},
		"github.com/mapmesh/mapmesh/internal/appmesh": {"net/http", "go.etcd.io/bbolt", "go.etcd.io/etcd", "github.com/miekg/dns",
			"github.com/envoyproxy/go-control-plane", "github.com/mapmesh/mapmesh/internal/store/boltstore", "github.com/mapmesh/mapmesh/internal/server",
			"github.com/mapmesh/mapmesh/internal/cloudmap"},
		// awsapi maps the store contract's sentinel errors to AWS errors in
		// one place (as net/http's toHTTPError maps io/fs's), so it may
		// import the contract, but no backend and no projection.
		"github.com/mapmesh/mapmesh/internal/awsapi": {"github.com/mapmesh/mapmesh/internal/cloudmap", "github.com/mapmesh/mapmesh/internal/appmesh",
			"github.com/mapmesh/mapmesh/internal/store/"},
		"github.com/mapmesh/mapmesh/internal/store": {"github.com/mapmesh/mapmesh/internal/"},
	}
	for _, p := range listPackages(t) {
		bad, ok := forbidden[p.ImportPath]
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			for _, b := range bad {
				if imp == b || strings.HasPrefix(imp, strings.TrimSuffix(b, "/")+"/") || (strings.HasSuffix(b, "/") && strings.HasPrefix(imp, b)) {
					t.Errorf("%s imports %s; it must not", p.ImportPath, imp)
				}
			}
		}
	}
}
