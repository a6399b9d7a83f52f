// Command awsgen generates Go shapes and validation from a botocore service
// model (service-2.json). It runs from go:generate in each service package:
//
//	go run ../awsgen -model ../awsgen/models/servicediscovery-2017-03-14.json -package cloudmap -out zz_shapes.go
//
// For every structure reachable from an operation's input or output it writes a
// struct whose fields carry the model's member names as JSON names; scalars
// are pointers so that a missing member is told from a zero one. Request and
// response shapes are renamed <Op>Input and <Op>Output. Input shapes get a
// Validate method that checks every model constraint (required, length,
// pattern, enum, range, list and map sizes) with AWS's messages; in JSON 1.1
// models, operation inputs also get SetJSONMember (awsapi.FlatDecoder), so
// flat request bodies are read without reflection. It also writes
// the table of modeled errors per operation and the HTTP status of each error.
//
// The models under models/ are botocore's, with documentation stripped;
// refresh them with models/refresh.sh.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/mapmesh/mapmesh/internal/awsapi"
)

type model struct {
	Metadata   map[string]any       `json:"metadata"`
	Operations map[string]operation `json:"operations"`
	Shapes     map[string]*shape    `json:"shapes"`
}

type operation struct {
	Name   string            `json:"name"`
	HTTP   map[string]any    `json:"http"`
	Input  *ref              `json:"input"`
	Output *ref              `json:"output"`
	Errors []ref             `json:"errors"`
	Extra  map[string]string `json:"-"`
}

type ref struct {
	Shape        string `json:"shape"`
	Location     string `json:"location"`
	LocationName string `json:"locationName"`
	Deprecated   bool   `json:"deprecated"`
	Idempotency  bool   `json:"idempotencyToken"`
}

type shape struct {
	Type      string          `json:"type"`
	Required  []string        `json:"required"`
	Members   map[string]*ref `json:"members"`
	Member    *ref            `json:"member"`
	Key       *ref            `json:"key"`
	Value     *ref            `json:"value"`
	Min       *float64        `json:"min"`
	Max       *float64        `json:"max"`
	Pattern   string          `json:"pattern"`
	Enum      []string        `json:"enum"`
	Exception bool            `json:"exception"`
	Error     struct {
		HTTPStatusCode int    `json:"httpStatusCode"`
		Code           string `json:"code"`
	} `json:"error"`
	Payload string `json:"payload"`
	Union   bool   `json:"union"`

	order []string // member names in model order
}

func main() {
	modelPath := flag.String("model", "", "botocore service-2.json")
	pkg := flag.String("package", "", "Go package name")
	out := flag.String("out", "zz_shapes.go", "output file")
	suffix := flag.String("suffix", "", "suffix for every generated identifier (types, rules, tables), for a second API version of a service in the same package")
	rename := flag.String("rename", "", "comma-separated Shape=GoName pairs, for shapes whose name the package already uses")
	flag.Parse()
	if *modelPath == "" || *pkg == "" {
		log.Fatal("awsgen: -model and -package are required")
	}
	raw, err := os.ReadFile(*modelPath)
	if err != nil {
		log.Fatal(err)
	}
	var m model
	if err := json.Unmarshal(raw, &m); err != nil {
		log.Fatalf("awsgen: %s: %v", *modelPath, err)
	}
	if err := memberOrder(raw, &m); err != nil {
		log.Fatal(err)
	}
	g := &gen{m: &m, pkg: *pkg, suffix: *suffix, names: map[string]string{}}
	for _, kv := range strings.Split(*rename, ",") {
		if shape, name, ok := strings.Cut(kv, "="); ok {
			g.names[shape] = name + *suffix
		}
	}
	src, err := g.run(*modelPath)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

// memberOrder records the members of every structure in model order, which
// encoding/json into a Go map loses.
func memberOrder(raw []byte, m *model) error {
	var doc struct {
		Shapes map[string]struct {
			Members json.RawMessage `json:"members"`
		} `json:"shapes"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	for name, s := range doc.Shapes {
		if len(s.Members) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(s.Members))
		if _, err := dec.Token(); err != nil {
			return err
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			m.Shapes[name].order = append(m.Shapes[name].order, tok.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
		}
	}
	return nil
}

type gen struct {
	m      *model
	pkg    string
	suffix string
	buf    bytes.Buffer
	// names maps a shape name to its Go type name.
	names map[string]string
	// structs to emit, and which of them need Validate.
	emit, validate map[string]bool
	rules          []string
}

func (g *gen) p(format string, args ...any) { fmt.Fprintf(&g.buf, format, args...) }

func (g *gen) run(modelPath string) ([]byte, error) {
	ops := sortedKeys(g.m.Operations)
	for _, op := range ops {
		o := g.m.Operations[op]
		if o.Input != nil {
			g.names[o.Input.Shape] = op + "Input" + g.suffix
		}
		if o.Output != nil {
			g.names[o.Output.Shape] = op + "Output" + g.suffix
		}
	}
	g.emit, g.validate = map[string]bool{}, map[string]bool{}
	for _, op := range ops {
		o := g.m.Operations[op]
		if o.Input != nil {
			g.walk(o.Input.Shape, true)
		}
		if o.Output != nil {
			g.walk(o.Output.Shape, false)
		}
	}

	g.p("// Code generated by awsgen from %s; DO NOT EDIT.\n\n", strings.TrimPrefix(modelPath, "../"))
	g.p("package %s\n\n", g.pkg)
	g.p("import \"github.com/mapmesh/mapmesh/internal/awsapi\"\n\n")
	g.p("var _ = awsapi.Member\n\n")

	structs := sortedKeys(g.emit)
	sort.Slice(structs, func(i, j int) bool { return g.goName(structs[i]) < g.goName(structs[j]) })
	for _, name := range structs {
		if err := g.structType(name); err != nil {
			return nil, err
		}
	}
	for _, name := range structs {
		if g.validate[name] {
			if err := g.validateFunc(name); err != nil {
				return nil, err
			}
		}
	}
	if g.m.Metadata["protocol"] == "json" {
		for _, op := range ops {
			if in := g.m.Operations[op].Input; in != nil {
				g.flatFunc(in.Shape)
			}
		}
	}
	g.p("// Validation rules of the model's constrained scalar shapes.\nvar (\n")
	for _, r := range g.rules {
		g.p("%s\n", r)
	}
	g.p(")\n\n")

	g.p("// modeledErrors lists, per operation, the error codes the model declares.\nvar modeledErrors%s = map[string][]string{\n", g.suffix)
	for _, op := range ops {
		var codes []string
		for _, e := range g.m.Operations[op].Errors {
			codes = append(codes, fmt.Sprintf("%q", e.Shape))
		}
		g.p("%q: {%s},\n", op, strings.Join(codes, ", "))
	}
	g.p("}\n\n")
	g.p("// errorStatus gives the HTTP status the model assigns each error (0: the protocol's default).\nvar errorStatus%s = map[string]int{\n", g.suffix)
	for _, name := range sortedKeys(g.m.Shapes) {
		if s := g.m.Shapes[name]; s.Exception {
			g.p("%q: %d,\n", name, s.Error.HTTPStatusCode)
		}
	}
	g.p("}\n")
	if g.m.Metadata["protocol"] == "rest-json" {
		if err := g.routeTable(ops); err != nil {
			return nil, err
		}
	}

	src, err := format.Source(g.buf.Bytes())
	if err != nil {
		return g.buf.Bytes(), fmt.Errorf("awsgen: gofmt: %w", err)
	}
	return src, nil
}

// walk marks the structures reachable from name.
func (g *gen) walk(name string, input bool) {
	s := g.m.Shapes[name]
	switch s.Type {
	case "structure":
		if s.Exception {
			return
		}
		if g.emit[name] && (!input || g.validate[name]) {
			return
		}
		g.emit[name] = true
		if input {
			g.validate[name] = true
		}
		for _, mn := range s.order {
			g.walk(s.Members[mn].Shape, input)
		}
	case "list":
		g.walk(s.Member.Shape, input)
	case "map":
		g.walk(s.Key.Shape, input)
		g.walk(s.Value.Shape, input)
	}
}

var initialisms = map[string]string{
	"Id": "ID", "Ids": "IDs", "Arn": "ARN", "Arns": "ARNs", "Dns": "DNS", "Http": "HTTP", "Https": "HTTPS",
	"Vpc": "VPC", "Ttl": "TTL", "Url": "URL", "Ip": "IP", "Json": "JSON", "Api": "API", "Tls": "TLS",
	"Uid": "UID", "Tcp": "TCP", "Grpc": "GRPC", "Acm": "ACM", "Sds": "SDS", "Uri": "URI", "Http2": "HTTP2",
	"Ipv4": "IPv4", "Ipv6": "IPv6",
}

var wordRe = regexp.MustCompile(`[A-Z][a-z0-9]*|[a-z0-9]+`)

// goIdent applies Go's initialism conventions to a model name:
// "HttpInstanceSummary" -> "HTTPInstanceSummary", "NamespaceId" -> "NamespaceID".
func goIdent(name string) string {
	var b strings.Builder
	for _, w := range wordRe.FindAllString(name, -1) {
		if w[0] >= 'a' && w[0] <= 'z' {
			w = strings.ToUpper(w[:1]) + w[1:] // camelCase member names (rest-json models)
		}
		if r, ok := initialisms[w]; ok {
			w = r
		}
		b.WriteString(w)
	}
	if b.Len() == 0 {
		return name
	}
	s := b.String()
	return strings.ToUpper(s[:1]) + s[1:]
}

func (g *gen) goName(shapeName string) string {
	if n, ok := g.names[shapeName]; ok {
		return n
	}
	return goIdent(shapeName) + g.suffix
}

// routeTable writes the rest-json route of every operation: method, path
// pattern (the model's requestUri as a Go ServeMux pattern: "{key+}"
// becomes "{key...}") and success status.
func (g *gen) routeTable(ops []string) error {
	g.p("\n// restRoutes%s is the rest-json route of every operation.\nvar restRoutes%s = []awsapi.RESTRoute{\n", g.suffix, g.suffix)
	for _, op := range ops {
		h := g.m.Operations[op].HTTP
		method, _ := h["method"].(string)
		uri, _ := h["requestUri"].(string)
		if method == "" || uri == "" {
			return fmt.Errorf("awsgen: operation %s has no http method or requestUri", op)
		}
		uri, _, _ = strings.Cut(uri, "?")
		uri = greedyLabelRe.ReplaceAllString(uri, "{$1...}")
		code := 200
		if c, ok := h["responseCode"].(float64); ok {
			code = int(c)
		}
		g.p("{Op: %q, Method: %q, Path: %q, Code: %d},\n", op, method, uri, code)
	}
	g.p("}\n")
	return nil
}

var greedyLabelRe = regexp.MustCompile(`\{([A-Za-z0-9_]+)\+\}`)

// goType is the type of a member (pointer for scalars and structures).
func (g *gen) goType(shapeName string, member bool) (string, error) {
	s := g.m.Shapes[shapeName]
	ptr := ""
	if member {
		ptr = "*"
	}
	switch s.Type {
	case "string":
		return ptr + "string", nil
	case "integer":
		return ptr + "int32", nil
	case "long":
		return ptr + "int64", nil
	case "boolean":
		return ptr + "bool", nil
	case "double", "float":
		return ptr + "float64", nil
	case "timestamp":
		return ptr + "awsapi.Time", nil
	case "blob":
		return "[]byte", nil
	case "structure":
		return ptr + g.goName(shapeName), nil
	case "list":
		e, err := g.goType(s.Member.Shape, false)
		return "[]" + e, err
	case "map":
		k, err := g.goType(s.Key.Shape, false)
		if err != nil {
			return "", err
		}
		v, err := g.goType(s.Value.Shape, false)
		return "map[" + k + "]" + v, err
	}
	return "", fmt.Errorf("awsgen: shape %s: unsupported type %q", shapeName, s.Type)
}

func (g *gen) structType(name string) error {
	s := g.m.Shapes[name]
	g.p("// %s is the model shape %s.\ntype %s struct {\n", g.goName(name), name, g.goName(name))
	for _, mn := range s.order {
		r := s.Members[mn]
		t, err := g.goType(r.Shape, true)
		if err != nil {
			return err
		}
		tag := jsonName(mn, r)
		opts := ",omitzero"
		if s.Payload == mn && r.Location == "" {
			// The member is the whole HTTP body (rest-json).
			g.p("%s %s `json:\"%s%s\" payload:\"true\"`\n", goIdent(mn), t, tag, opts)
			continue
		}
		if r.Location != "" {
			// Bound to the URI, query string or a header, not the body.
			g.p("%s %s `json:\"-\" location:\"%s\" locationName:\"%s\"`\n", goIdent(mn), t, r.Location, r.LocationName)
			continue
		}
		g.p("%s %s `json:\"%s%s\"`\n", goIdent(mn), t, tag, opts)
	}
	g.p("}\n\n")
	return nil
}

// jsonName is the name of member mn in a JSON body: its locationName when
// it has one and is bound to the body, else the member's name.
func jsonName(mn string, r *ref) string {
	if r.LocationName != "" && r.Location == "" {
		return r.LocationName
	}
	return mn
}

// rule returns the name of the package-level rule variable for a constrained
// scalar shape, declaring it on first use; "" when the shape has no
// constraints.
func (g *gen) rule(shapeName string) (string, error) {
	s := g.m.Shapes[shapeName]
	v := "rule" + goIdent(shapeName) + g.suffix
	for _, r := range g.rules {
		if strings.HasPrefix(r, v+" ") {
			return v, nil
		}
	}
	switch s.Type {
	case "string":
		if s.Min == nil && s.Max == nil && s.Pattern == "" && len(s.Enum) == 0 {
			return "", nil
		}
		minV, maxV := -1, -1
		if s.Min != nil {
			minV = int(*s.Min)
		}
		if s.Max != nil {
			maxV = int(*s.Max)
		}
		fields := fmt.Sprintf("Min: %d, Max: %d", minV, maxV)
		if s.Pattern != "" {
			re, notPrefix, lenMin, lenMax, err := translatePattern(s.Pattern)
			if err != nil {
				return "", fmt.Errorf("awsgen: shape %s: %w", shapeName, err)
			}
			fields += fmt.Sprintf(", Pattern: awsapi.MustPattern(%q), PatternText: %q", re, s.Pattern)
			if notPrefix != "" {
				fields += fmt.Sprintf(", NotPrefix: %q", notPrefix)
			}
			if lenMax >= 0 {
				fields += fmt.Sprintf(", PatternLen: [2]int{%d, %d}", lenMin, lenMax)
			}
		}
		if len(s.Enum) > 0 {
			q := make([]string, len(s.Enum))
			for i, e := range s.Enum {
				q[i] = fmt.Sprintf("%q", e)
			}
			fields += ", Enum: []string{" + strings.Join(q, ", ") + "}"
		}
		g.rules = append(g.rules, fmt.Sprintf("%s = &awsapi.StringRule{%s}", v, fields))
		return v, nil
	case "integer", "long", "double", "float":
		if s.Min == nil && s.Max == nil {
			return "", nil
		}
		fields := ""
		if s.Min != nil {
			fields += fmt.Sprintf("Min: %d, HasMin: true, ", int64(*s.Min))
		}
		if s.Max != nil {
			fields += fmt.Sprintf("Max: %d, HasMax: true", int64(*s.Max))
		}
		g.rules = append(g.rules, fmt.Sprintf("%s = &awsapi.IntRule{%s}", v, strings.TrimSuffix(fields, ", ")))
		return v, nil
	}
	return "", nil
}

var (
	negPrefixRe  = regexp.MustCompile(`^\^\(\?!([^()\\]+)\)`)
	lookLenRe    = regexp.MustCompile(`\(\?=\^\.\{(\d+),(\d+)\}\$\)`)
	bigRepeatRe  = regexp.MustCompile(`\{(\d+),(\d{4,})\}`)
	wholeClassRe = regexp.MustCompile(`^\^\[[^\]]+\]\{\d+,\d+\}\$$`)
)

// translatePattern turns a model (Java) pattern into RE2. Two look-arounds the
// models use are rewritten: a leading "^(?!lit)" becomes a prefix check, and
// "(?=^.{m,n}$)" becomes a length check on the whole value.
func translatePattern(p string) (re, notPrefix string, lenMin, lenMax int, err error) {
	lenMin, lenMax = -1, -1
	re = p
	if m := negPrefixRe.FindStringSubmatch(re); m != nil {
		notPrefix = m[1]
		re = "^" + re[len(m[0]):]
	}
	if m := lookLenRe.FindStringSubmatch(re); m != nil {
		fmt.Sscan(m[1], &lenMin)
		fmt.Sscan(m[2], &lenMax)
		re = strings.Replace(re, m[0], "", 1)
	}
	if m := bigRepeatRe.FindStringSubmatch(re); m != nil {
		// RE2 caps repeat counts at 1000. The models use larger ones only
		// as "^[class]{m,n}$", where the repeat bounds the whole length.
		if lenMax >= 0 || !wholeClassRe.MatchString(re) {
			return "", "", 0, 0, fmt.Errorf("pattern %q: repeat count over 1000 outside ^[class]{m,n}$", p)
		}
		fmt.Sscan(m[1], &lenMin)
		fmt.Sscan(m[2], &lenMax)
		re = strings.Replace(re, m[0], "{"+m[1]+",}", 1)
	}
	if _, err := regexp.Compile(re); err != nil {
		return "", "", 0, 0, fmt.Errorf("pattern %q does not compile as RE2 (%q): %w", p, re, err)
	}
	return re, notPrefix, lenMin, lenMax, nil
}

func (g *gen) validateFunc(name string) error {
	s := g.m.Shapes[name]
	required := map[string]bool{}
	for _, r := range s.Required {
		required[r] = true
	}
	g.p("// Validate checks the model's constraints.\nfunc (s *%s) Validate(v *awsapi.Validation, path string) {\n", g.goName(name))
	if s.Union {
		// A union (tagged) structure must have exactly one member set.
		var set []string
		for _, mn := range s.order {
			set = append(set, fmt.Sprintf("s.%s != nil", goIdent(mn)))
		}
		g.p("v.Union(path, %s)\n", strings.Join(set, ", "))
	}
	for _, mn := range s.order {
		r := s.Members[mn]
		ms := g.m.Shapes[r.Shape]
		field := "s." + goIdent(mn)
		pathName := mn
		if r.LocationName != "" {
			pathName = r.LocationName
		}
		// The member's path name, lowered here (Member would lower it
		// for each request): at the top level, the path is a constant.
		pathExpr := fmt.Sprintf("awsapi.Member(path, %q)", awsapi.Member("", pathName))
		var body bytes.Buffer
		switch ms.Type {
		case "string":
			rv, err := g.rule(r.Shape)
			if err != nil {
				return err
			}
			if rv != "" {
				fmt.Fprintf(&body, "v.String(%s, *%s, %s)\n", pathExpr, field, rv)
			}
		case "integer", "long":
			rv, err := g.rule(r.Shape)
			if err != nil {
				return err
			}
			if rv != "" {
				fmt.Fprintf(&body, "v.Int(%s, int64(*%s), %s)\n", pathExpr, field, rv)
			}
		case "structure":
			fmt.Fprintf(&body, "%s.Validate(v, %s)\n", field, pathExpr)
		case "list":
			if ms.Min != nil || ms.Max != nil {
				fmt.Fprintf(&body, "v.Size(%s, %s, len(%s), %d, %d)\n", pathExpr, sizeValue(g.m, ms, field), field, bound(ms.Min), bound(ms.Max))
			}
			es := g.m.Shapes[ms.Member.Shape]
			switch es.Type {
			case "structure":
				fmt.Fprintf(&body, "for i := range %s { %s[i].Validate(v, awsapi.Elem(%s, i)) }\n", field, field, pathExpr)
			case "string":
				rv, err := g.rule(ms.Member.Shape)
				if err != nil {
					return err
				}
				if rv != "" {
					fmt.Fprintf(&body, "v.Strings(%s, %s, %s)\n", pathExpr, field, rv)
				}
			}
		case "map":
			if ms.Min != nil || ms.Max != nil {
				fmt.Fprintf(&body, "v.Size(%s, %s, len(%s), %d, %d)\n", pathExpr, field, field, bound(ms.Min), bound(ms.Max))
			}
			ks, vs := g.m.Shapes[ms.Key.Shape], g.m.Shapes[ms.Value.Shape]
			if ks.Type == "string" && vs.Type == "string" {
				kr, err := g.rule(ms.Key.Shape)
				if err != nil {
					return err
				}
				vr, err := g.rule(ms.Value.Shape)
				if err != nil {
					return err
				}
				if kr == "" {
					kr = "nil"
				}
				if vr == "" {
					vr = "nil"
				}
				if kr != "nil" || vr != "nil" {
					fmt.Fprintf(&body, "v.StringMap(%s, %s, %s, %s)\n", pathExpr, field, kr, vr)
				}
			} else if vs.Type == "structure" {
				fmt.Fprintf(&body, "for k, e := range %s { e.Validate(v, %s+\".\"+k) }\n", field, pathExpr)
			}
		}
		nilable := true
		switch {
		case required[mn]:
			g.p("if %s == nil {\nv.Null(%s)\n}", field, pathExpr)
			if body.Len() > 0 {
				g.p(" else {\n%s}", body.String())
			}
			g.p("\n")
		case body.Len() > 0 && nilable:
			g.p("if %s != nil {\n%s}\n", field, body.String())
		}
	}
	g.p("}\n\n")
	return nil
}

// flatFunc writes an input's SetJSONMember (awsapi.FlatDecoder) for its
// members that a flat body can hold: strings, integers, booleans and maps
// of strings. A body with any other member goes to encoding/json.
func (g *gen) flatFunc(name string) {
	s := g.m.Shapes[name]
	g.p("// SetJSONMember sets a member from a flat body (awsapi.DecodeFlat).\nfunc (s *%s) SetJSONMember(name []byte, v awsapi.FlatValue) bool {\nswitch string(name) {\n", g.goName(name))
	for _, mn := range s.order {
		r := s.Members[mn]
		field := "s." + goIdent(mn)
		var set string
		switch ms := g.m.Shapes[r.Shape]; ms.Type {
		case "string":
			set = "v.String(&" + field + ")"
		case "integer":
			set = "v.Int32(&" + field + ")"
		case "long":
			set = "v.Int64(&" + field + ")"
		case "boolean":
			set = "v.Bool(&" + field + ")"
		case "map":
			if g.m.Shapes[ms.Key.Shape].Type == "string" && g.m.Shapes[ms.Value.Shape].Type == "string" {
				set = "v.StringMap(&" + field + ")"
			}
		}
		if set != "" && r.Location == "" {
			g.p("case %q:\nreturn %s\n", jsonName(mn, r), set)
		}
	}
	g.p("}\nreturn false\n}\n\n")
}

// sizeValue is what a list size violation quotes: the list for lists of
// strings, a placeholder for lists of structures.
func sizeValue(m *model, list *shape, field string) string {
	if m.Shapes[list.Member.Shape].Type == "string" {
		return field
	}
	return `"[...]"`
}

func bound(f *float64) int {
	if f == nil {
		return -1
	}
	return int(*f)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
