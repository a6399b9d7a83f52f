package k8simport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	in := `# a comment before the first document
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: a}
spec:
  listeners:
    - portMapping: {port: 8080, protocol: http}
  backendDefaults:
    clientPolicy:
      tls:
        validation:
          trust:
            file:
              certificateChain: |
                -----BEGIN CERTIFICATE-----
                ---
                -----END CERTIFICATE-----
--- # the second document
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: m, namespace: ignored}
---
---
apiVersion: v1
kind: List
items:
  - apiVersion: appmesh.k8s.aws/v1beta2
    kind: VirtualService
    metadata: {name: s, namespace: ns1, labels: {a: b}}
  - apiVersion: v1
    kind: Namespace
    metadata: {name: ns1}
`
	objs, err := Parse("in.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.ID()+" @"+o.Source)
	}
	want := []string{
		"VirtualNode default/a @in.yaml:3",
		"Mesh m @in.yaml:20",
		"VirtualService ns1/s @in.yaml:25 (item 0)",
		"Namespace ns1 @in.yaml:25 (item 1)",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Parse: objects (-want +got):\n%s", d)
	}
	if !strings.Contains(string(objs[0].Spec), `-----BEGIN CERTIFICATE-----\n---\n-----END CERTIFICATE-----`) {
		t.Errorf("a block scalar with --- in it was split: %s", objs[0].Spec)
	}
	if objs[2].Labels["a"] != "b" {
		t.Errorf("labels = %v", objs[2].Labels)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"kind: Mesh\nmetadata: {name: m}\n", "x.yaml:1: not a Kubernetes object: no apiVersion or kind"},
		{"apiVersion: v1\nkind: Mesh\n", "x.yaml:1: Mesh has no metadata.name"},
		{"---\napiVersion: v1\nkind: [\n", "x.yaml:2: yaml: line 3: "},
		{"apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Mesh\nkind: Mesh\nmetadata: {name: m}\n", "x.yaml:5: yaml: unmarshal errors:\n  line 7: key \"kind\" already set in map"},
		{"- 1\n- 2\n", "x.yaml:1: not a Kubernetes object"},
	} {
		_, err := Parse("x.yaml", []byte(tc.in))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want an error starting %q", tc.in, err, tc.want)
		}
	}
}

func TestReadPath(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"b.yaml":          "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
		"a/deep/c.yml":    "apiVersion: v1\nkind: Namespace\nmetadata: {name: c}\n",
		"a/a.json":        `{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}`,
		"a/notes.txt":     "not read",
		"a/skip.yaml.bak": "not read",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := ReadPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.Name)
	}
	if d := cmp.Diff([]string{"a", "c", "b"}, got); d != "" {
		t.Errorf("ReadPath: names in order (-want +got):\n%s", d)
	}
	if _, err := ReadPath(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadPath(missing) = nil error")
	}
}

func TestSelectors(t *testing.T) {
	sel := func(s string) *labelSelector {
		t.Helper()
		if s == "" {
			return nil
		}
		l, err := parseSelector(decodeJSON(t, s), "sel")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	labels := map[string]string{"mesh": "m1", "tier": "web"}
	for _, tc := range []struct {
		sel           string
		nilMatchesAll bool
		want          bool
	}{
		{"", false, false},
		{"", true, true},
		{`{}`, false, true},
		{`{"matchLabels":{"mesh":"m1"}}`, false, true},
		{`{"matchLabels":{"mesh":"m2"}}`, false, false},
		{`{"matchLabels":{"mesh":"m1","x":"y"}}`, false, false},
		{`{"matchExpressions":[{"key":"tier","operator":"In","values":["web","api"]}]}`, false, true},
		{`{"matchExpressions":[{"key":"tier","operator":"NotIn","values":["web"]}]}`, false, false},
		{`{"matchExpressions":[{"key":"gone","operator":"NotIn","values":["web"]}]}`, false, true},
		{`{"matchExpressions":[{"key":"mesh","operator":"Exists"}]}`, false, true},
		{`{"matchExpressions":[{"key":"mesh","operator":"DoesNotExist"}]}`, false, false},
	} {
		if got := sel(tc.sel).matches(labels, tc.nilMatchesAll); got != tc.want {
			t.Errorf("selector %s (nil matches all: %v).matches(%v) = %v; want %v", tc.sel, tc.nilMatchesAll, labels, got, tc.want)
		}
	}
	for _, bad := range []string{`{"matchExpressions":[{"key":"a","operator":"Near"}]}`, `{"matchExpressions":[{"key":"a","operator":"In"}]}`, `{"matchLabel":{}}`} {
		if _, err := parseSelector(decodeJSON(t, bad), "sel"); err == nil {
			t.Errorf("parseSelector(%s) = nil error", bad)
		}
	}
}
