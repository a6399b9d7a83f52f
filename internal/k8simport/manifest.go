package k8simport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// The App Mesh controller's API group and version.
const (
	Group      = "appmesh.k8s.aws"
	APIVersion = Group + "/v1beta2"
)

// The kinds imported, and Namespace, whose labels choose meshes and
// gateways.
const (
	KindMesh           = "Mesh"
	KindVirtualNode    = "VirtualNode"
	KindVirtualService = "VirtualService"
	KindVirtualRouter  = "VirtualRouter"
	KindVirtualGateway = "VirtualGateway"
	KindGatewayRoute   = "GatewayRoute"
	kindNamespace      = "Namespace"
)

// Object is one Kubernetes object read from a manifest.
type Object struct {
	APIVersion, Kind string
	Name, Namespace  string // Namespace is "default" when the manifest has none, "" for a Mesh
	Labels           map[string]string
	// Spec is the object's spec, as JSON (null when it has none).
	Spec json.RawMessage
	// Source is where the object starts: "file:line".
	Source string
}

// ID is the object's kind and name as kubectl would print them:
// "VirtualNode howto/blue", "Mesh howto".
func (o *Object) ID() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// key is an object's kind, namespace and name.
type key struct{ kind, namespace, name string }

func (o *Object) key() key { return key{o.Kind, o.Namespace, o.Name} }

// ReadPath reads the manifests at path: a file, or every file under a
// directory (recursively, in lexical order) whose name ends in .yaml, .yml
// or .json. Each file may hold several YAML documents, and a document may
// be a List (kubectl get -o yaml) whose items are read in turn.
func ReadPath(path string) ([]Object, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var files []string
	if st.IsDir() {
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() {
					files = append(files, p)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
	} else {
		files = []string{path}
	}
	var objs []Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		o, err := Parse(f, data)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	return objs, nil
}

// Parse reads the YAML (or JSON) documents of data, a file named name.
func Parse(name string, data []byte) ([]Object, error) {
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	var objs []Object
	for _, d := range docs {
		src := fmt.Sprintf("%s:%d", name, d.line)
		// Blank lines ahead make the parser's line numbers the file's.
		j, err := yaml.YAMLToJSONStrict(append(bytes.Repeat([]byte("\n"), d.start-1), d.data...))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", src, err)
		}
		if o, err := decodeObject(j, src); err != nil {
			return nil, err
		} else {
			objs = append(objs, o...)
		}
	}
	return objs, nil
}

// head is what every object has.
type head struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec  json.RawMessage   `json:"spec"`
	Items []json.RawMessage `json:"items"`
}

func decodeObject(j []byte, src string) ([]Object, error) {
	if t := bytes.TrimSpace(j); len(t) == 0 || string(t) == "null" {
		return nil, nil // an empty document
	}
	var h head
	if err := json.Unmarshal(j, &h); err != nil {
		return nil, fmt.Errorf("%s: not a Kubernetes object: %v", src, err)
	}
	if strings.HasSuffix(h.Kind, "List") && h.Items != nil {
		var objs []Object
		for i, it := range h.Items {
			o, err := decodeObject(it, fmt.Sprintf("%s (item %d)", src, i))
			if err != nil {
				return nil, err
			}
			objs = append(objs, o...)
		}
		return objs, nil
	}
	if h.Kind == "" || h.APIVersion == "" {
		return nil, fmt.Errorf("%s: not a Kubernetes object: no apiVersion or kind", src)
	}
	if h.Metadata.Name == "" {
		return nil, fmt.Errorf("%s: %s has no metadata.name", src, h.Kind)
	}
	o := Object{APIVersion: h.APIVersion, Kind: h.Kind, Name: h.Metadata.Name, Namespace: h.Metadata.Namespace,
		Labels: h.Metadata.Labels, Spec: h.Spec, Source: src}
	switch {
	case h.Kind == KindMesh || h.Kind == kindNamespace:
		o.Namespace = "" // cluster-scoped
	case o.Namespace == "":
		o.Namespace = "default"
	}
	return []Object{o}, nil
}

type document struct {
	data  []byte
	start int // the line data starts at, from 1
	line  int // the first line with content (what error messages point at)
}

// splitDocuments splits a YAML stream at its document markers: lines
// that are "---", alone or before a comment or a value ("--- # x", "---
// {}"). Block scalars are indented, so their lines never start one.
func splitDocuments(data []byte) ([]document, error) {
	var docs []document
	var cur bytes.Buffer
	d := document{start: 1}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte("---")) && (len(line) == 3 || line[3] == ' ' || line[3] == '\t') {
			d.data = bytes.Clone(cur.Bytes())
			docs = append(docs, d)
			cur.Reset()
			d = document{start: n}
			line = line[3:] // "--- {}" keeps its value
		}
		if t := bytes.TrimSpace(line); d.line == 0 && len(t) > 0 && t[0] != '#' {
			d.line = n
		}
		cur.Write(line)
		cur.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	d.data = cur.Bytes()
	docs = append(docs, d)
	for i := range docs {
		if docs[i].line == 0 {
			docs[i].line = docs[i].start
		}
	}
	return docs, nil
}
