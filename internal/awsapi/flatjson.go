package awsapi

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// FlatDecoder is implemented by JSON 1.1 inputs (generated) whose request
// bodies are most often flat: an object of members that are plain strings,
// integers, booleans or objects of plain strings. DecodeFlat reads such a
// body in one pass, without reflection; encoding/json reads every other.
type FlatDecoder interface {
	// SetJSONMember sets the member the body names exactly as the model
	// spells it from v, and reports false when name is no such member,
	// when v is not what the member holds, or when the member is set
	// already (a repeated name).
	SetJSONMember(name []byte, v FlatValue) bool
}

// FlatValue is one member's value in a flat body: a plain string (no
// escapes, valid UTF-8), an integer, true or false, or an object of plain
// strings.
type FlatValue struct {
	kind byte   // '"', '0', 't', 'f' or '{'
	raw  []byte // the string's contents, or the number's or object's text
}

// String sets *dst to the string v holds.
func (v FlatValue) String(dst **string) bool {
	if v.kind != '"' || *dst != nil {
		return false
	}
	s := string(v.raw)
	*dst = &s
	return true
}

// Int32 sets *dst to the integer v holds, if it fits.
func (v FlatValue) Int32(dst **int32) bool {
	n, ok := v.int(32)
	if !ok || *dst != nil {
		return false
	}
	i := int32(n)
	*dst = &i
	return true
}

// Int64 sets *dst to the integer v holds, if it fits.
func (v FlatValue) Int64(dst **int64) bool {
	n, ok := v.int(64)
	if !ok || *dst != nil {
		return false
	}
	*dst = &n
	return true
}

func (v FlatValue) int(bits int) (int64, bool) {
	if v.kind != '0' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v.raw), 10, bits)
	return n, err == nil
}

// Bool sets *dst to the boolean v holds.
func (v FlatValue) Bool(dst **bool) bool {
	if (v.kind != 't' && v.kind != 'f') || *dst != nil {
		return false
	}
	b := v.kind == 't'
	*dst = &b
	return true
}

// StringMap sets *dst to the object of strings v holds (a repeated key:
// the last value, as encoding/json does).
func (v FlatValue) StringMap(dst *map[string]string) bool {
	if v.kind != '{' || *dst != nil {
		return false
	}
	m := map[string]string{}
	p := flatScanner{b: v.raw}
	if !p.members(func(k []byte) bool {
		val, ok := p.str()
		m[string(k)] = string(val)
		return ok
	}) {
		return false
	}
	*dst = m
	return true
}

// DecodeFlat reads body into in when body is a flat object (see
// FlatDecoder) with nothing but whitespace around it, and reports whether
// it did. When it did, in holds what encoding/json would have decoded;
// when it did not, in may hold part of body and the caller decodes a fresh
// input with encoding/json, which also gives the error of a bad body.
func DecodeFlat(body []byte, in FlatDecoder) bool {
	p := flatScanner{b: body}
	p.ws()
	ok := p.members(func(name []byte) bool {
		v, ok := p.value()
		return ok && in.SetJSONMember(name, v)
	})
	p.ws()
	return ok && p.i == len(body)
}

type flatScanner struct {
	b []byte
	i int
}

func (p *flatScanner) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// lit consumes c if the input continues with it.
func (p *flatScanner) lit(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str consumes a plain string and returns its contents: no escapes, no
// control characters, valid UTF-8 (which encoding/json would take as is).
func (p *flatScanner) str() ([]byte, bool) {
	if !p.lit('"') {
		return nil, false
	}
	rest := p.b[p.i:]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return nil, false
	}
	s := rest[:end]
	if !PlainString(s) {
		return nil, false
	}
	p.i += end + 1
	return s, true
}

// PlainString reports whether s, the text between a JSON string's quotes,
// is what encoding/json reads from it, byte for byte: no escapes, no
// control characters, valid UTF-8 (encoding/json reads U+FFFD for bad
// bytes).
func PlainString(s []byte) bool {
	ascii := true
	for _, c := range s {
		if c == '\\' || c < 0x20 {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || utf8.Valid(s)
}

// value consumes a member's value.
func (p *flatScanner) value() (FlatValue, bool) {
	if p.i >= len(p.b) {
		return FlatValue{}, false
	}
	start := p.i
	switch c := p.b[p.i]; {
	case c == '"':
		s, ok := p.str()
		return FlatValue{kind: '"', raw: s}, ok
	case c == '-' || '0' <= c && c <= '9':
		ok := p.integer()
		return FlatValue{kind: '0', raw: p.b[start:p.i]}, ok
	case c == 't' || c == 'f':
		word := "true"
		if c == 'f' {
			word = "false"
		}
		if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
			return FlatValue{}, false
		}
		p.i += len(word)
		return FlatValue{kind: c}, true
	case c == '{':
		if !p.object() {
			return FlatValue{}, false
		}
		return FlatValue{kind: '{', raw: p.b[start:p.i]}, true
	}
	return FlatValue{}, false // null, arrays, anything else: encoding/json's
}

// integer consumes a JSON number that is an integer: -?(0|[1-9][0-9]*),
// with no fraction or exponent after it.
func (p *flatScanner) integer() bool {
	p.lit('-')
	switch {
	case p.lit('0'):
	case p.i < len(p.b) && '1' <= p.b[p.i] && p.b[p.i] <= '9':
		for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
			p.i++
		}
	default:
		return false
	}
	return p.i == len(p.b) || (p.b[p.i] != '.' && p.b[p.i] != 'e' && p.b[p.i] != 'E' && (p.b[p.i] < '0' || p.b[p.i] > '9'))
}

// object consumes an object of plain strings.
func (p *flatScanner) object() bool {
	return p.members(func([]byte) bool {
		_, ok := p.str()
		return ok
	})
}

// members consumes an object whose names are plain strings, calling value
// with each name to consume its value; false when value does, or when the
// object is not well formed.
func (p *flatScanner) members(value func(name []byte) bool) bool {
	if !p.lit('{') {
		return false
	}
	p.ws()
	if p.lit('}') {
		return true
	}
	for {
		name, ok := p.str()
		if !ok {
			return false
		}
		p.ws()
		if !p.lit(':') {
			return false
		}
		p.ws()
		if !value(name) {
			return false
		}
		p.ws()
		if p.lit('}') {
			return true
		}
		if !p.lit(',') {
			return false
		}
		p.ws()
	}
}
