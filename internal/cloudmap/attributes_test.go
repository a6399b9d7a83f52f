package cloudmap

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzAttributes: Get, Len and the filter matcher, which search the JSON
// without decoding it, agree with the decoded map, whatever the keys and
// values hold (quotes, backslashes, keys inside values, HTML characters,
// non-ASCII).
func FuzzAttributes(f *testing.F) {
	for _, s := range []string{
		"stage\x00prod\x00AWS_INSTANCE_IPV4\x0010.0.0.1",
		"k\x00k\x00a\x00k",
		"a\":\"b\x00c\x00x\x00y\\",
		"<tag>\x00&amp;\x00stage\x00\"stage\":\"prod\"",
		"ključ\x00vrijednost\x00tab\x00a\tb",
		"ge\x00x\x00stage\x00prod",
	} {
		f.Add(s, "stage", "prod")
	}
	f.Fuzz(func(t *testing.T, pairs, key, value string) {
		if !utf8.ValidString(pairs) {
			return // encoding/json rewrites invalid UTF-8 (the API takes ASCII only)
		}
		parts := strings.Split(pairs, "\x00")
		m := map[string]string{}
		for i := 0; i+1 < len(parts); i += 2 {
			m[parts[i]] = parts[i+1]
		}
		a := EncodeAttributes(m)
		back := a.Map()
		if len(back) != len(m) || a.Len() != len(m) {
			t.Fatalf("%q: Map has %d, Len %d; want %d", a, len(back), a.Len(), len(m))
		}
		for k, v := range m {
			if !hasKey(back, k) || back[k] != v {
				// encoding/json replaces invalid UTF-8; the API accepts
				// only ASCII, so compare what the encoding keeps.
				continue
			}
			if got, ok := a.Get(k); !ok || got != v {
				t.Fatalf("%q: Get(%q) = %q, %v; want %q", a, k, got, ok, v)
			}
		}
		for _, want := range []map[string]string{{key: value}, {key: value, "stage": "prod"}, {}} {
			ok := true
			for k, v := range want {
				if got, has := back[k]; !has || got != v {
					ok = false
				}
			}
			m := newAttrMatcher(want)
			if got := m.match(a); got != ok {
				t.Fatalf("%q: match(%q) = %v; want %v", a, want, got, ok)
			}
		}
		if got, ok := a.Get(key); ok != (back[key] != "" || hasKey(back, key)) || got != back[key] {
			t.Fatalf("%q: Get(%q) = %q, %v; want %q", a, key, got, ok, back[key])
		}
	})
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

func TestAttributesPlainPath(t *testing.T) {
	a := EncodeAttributes(map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "stage": "prod", "age": "stage"})
	if !a.plain() {
		t.Fatalf("%q should take the fast path", a)
	}
	for k, want := range map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "stage": "prod", "age": "stage"} {
		if got, ok := a.Get(k); !ok || got != want {
			t.Errorf("Get(%q) = %q, %v", k, got, ok)
		}
	}
	for _, k := range []string{"ge", "AWS", "prod", "10.0.0.1"} {
		if got, ok := a.Get(k); ok {
			t.Errorf("Get(%q) = %q; want none", k, got)
		}
	}
	m := newAttrMatcher(map[string]string{"stage": "pro"})
	if m.match(a) {
		t.Error("stage=pro matched stage=prod")
	}
}
