package cloudmap

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Attributes are an instance's attributes as one compact JSON object with
// sorted keys, exactly as json.Marshal writes a map[string]string and as
// the instance record stores them. The view keeps them in this form only:
// DiscoverInstances copies them into its answer as they are, filters and
// Get search them without decoding, and every projection that needs them
// (DNS, xDS, health checks) shares the one string.
type Attributes string

// EncodeAttributes returns m as Attributes.
func EncodeAttributes(m map[string]string) Attributes {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	return Attributes(b)
}

// Map returns the attributes as a new map.
func (a Attributes) Map() map[string]string {
	m := map[string]string{}
	if a != "" {
		_ = json.Unmarshal([]byte(a), &m) // Attributes are valid JSON
	}
	return m
}

// Len returns how many attributes there are.
func (a Attributes) Len() int {
	if a.plain() {
		return strings.Count(string(a), `":"`)
	}
	return len(a.Map())
}

// Get returns the value of key.
func (a Attributes) Get(key string) (string, bool) {
	if !a.plain() || !plainJSON(key) {
		v, ok := a.Map()[key]
		return v, ok
	}
	i := a.valueAt(key)
	if i < 0 {
		return "", false
	}
	end := strings.IndexByte(string(a[i:]), '"')
	return string(a[i : i+end]), true
}

// Value returns the value of key, "" when there is none.
func (a Attributes) Value(key string) string {
	v, _ := a.Get(key)
	return v
}

// Address returns the instance's IP address by an App Mesh IP preference
// (IPv4_ONLY, IPv6_ONLY, IPv4_PREFERRED, IPv6_PREFERRED; anything else
// prefers IPv4): AWS_INSTANCE_IPV4 or AWS_INSTANCE_IPV6, "" when it has
// none that the preference allows.
func (a Attributes) Address(pref string) string {
	v4, v6 := a.Value("AWS_INSTANCE_IPV4"), a.Value("AWS_INSTANCE_IPV6")
	switch pref {
	case "IPv4_ONLY":
		return v4
	case "IPv6_ONLY":
		return v6
	case "IPv6_PREFERRED":
		if v6 != "" {
			return v6
		}
		return v4
	}
	if v4 != "" {
		return v4
	}
	return v6
}

// plain reports whether the JSON holds no escape sequence, so that every
// string in it is its own bytes and every unescaped quote delimits one.
func (a Attributes) plain() bool { return strings.IndexByte(string(a), '\\') < 0 }

// valueAt returns where key's value starts (after its opening quote) in
// plain attributes, or -1. In plain JSON the bytes `"key":"` occur only at
// a key: a value's closing quote is followed by ',' or '}', never by the
// key's bytes and a colon.
func (a Attributes) valueAt(key string) int {
	s := string(a)
	for from := 0; from < len(s); {
		i := strings.Index(s[from:], key)
		if i < 0 {
			return -1
		}
		i += from
		j := i + len(key)
		if i > 0 && s[i-1] == '"' && strings.HasPrefix(s[j:], `":"`) {
			return j + 3
		}
		from = i + 1
	}
	return -1
}

// plainJSON reports whether json.Marshal writes s as its own bytes between
// quotes (no escapes; encoding/json escapes <, > and & too).
func plainJSON(s string) bool {
	if s == "" {
		return false // an empty key would be found everywhere; decode instead
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		case c >= utf8.RuneSelf:
			return false // U+2028, U+2029 and invalid UTF-8 are escaped; be safe
		}
	}
	return true
}

// attrMatcher tests attributes against the QueryParameters or
// OptionalParameters of a DiscoverInstances call.
type attrMatcher struct {
	want  map[string]string
	plain bool // every key and value of want is plainJSON
}

func newAttrMatcher(want map[string]string) attrMatcher {
	m := attrMatcher{want: want, plain: true}
	for k, v := range want {
		if !plainJSON(k) || !plainJSON(v) {
			m.plain = false
		}
	}
	return m
}

// match reports whether a holds every wanted key with its value.
func (m *attrMatcher) match(a Attributes) bool {
	if len(m.want) == 0 {
		return true
	}
	if !m.plain || !a.plain() {
		have := a.Map()
		for k, v := range m.want {
			if got, ok := have[k]; !ok || got != v {
				return false
			}
		}
		return true
	}
	for k, v := range m.want {
		i := a.valueAt(k)
		if i < 0 || !strings.HasPrefix(string(a[i:]), v) || len(a) <= i+len(v) || a[i+len(v)] != '"' {
			return false
		}
	}
	return true
}
