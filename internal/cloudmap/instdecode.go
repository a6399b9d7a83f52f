package cloudmap

import (
	"bytes"
	"strconv"

	"github.com/mapmesh/mapmesh/internal/awsapi"
)

// decodeStored reads an instance record as json.Marshal wrote it from an
// instRecord: the fields in their order, compact, no escapes in the IDs.
// A restart decodes every instance, and encoding/json spent most of the
// load's time on it; this reads such a record in one pass. ok is false
// for anything else (another field order, escapes, whitespace), which
// decodeInstance then reads with encoding/json, as before.
func decodeStored(b []byte, r *storedInstance) (ok bool) {
	p := storedParser{b: b}
	if !p.lit(`{"v":`) || !p.digits() {
		return false
	}
	if !p.lit(`,"id":`) {
		return false
	}
	if r.ID, ok = p.str(); !ok {
		return false
	}
	if p.lit(`,"creatorRequestId":`) {
		if r.CreatorRequestID, ok = p.str(); !ok {
			return false
		}
	}
	if !p.lit(`,"attributes":`) {
		return false
	}
	if r.Attributes, ok = p.object(); !ok {
		return false
	}
	if !p.lit(`,"createdByAccount":`) {
		return false
	}
	if r.CreatedByAccount, ok = p.str(); !ok {
		return false
	}
	if !p.lit(`,"createDate":`) {
		return false
	}
	start := p.i
	if !p.digits() {
		return false
	}
	n, err := strconv.ParseInt(string(b[start:p.i]), 10, 64)
	if err != nil {
		return false
	}
	r.CreateDate = n
	if !p.lit(`,"updateDate":`) || !p.digits() {
		return false
	}
	return p.lit(`}`) && p.i == len(b)
}

type storedParser struct {
	b []byte
	i int
}

// lit consumes s if the input continues with it.
func (p *storedParser) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// digits consumes an optional minus sign and at least one digit.
func (p *storedParser) digits() bool {
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

// str consumes a string without escapes or control characters, valid
// UTF-8, and returns its contents.
func (p *storedParser) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	rest := p.b[p.i+1:]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return "", false
	}
	s := rest[:end]
	if !awsapi.PlainString(s) {
		return "", false
	}
	p.i += end + 2
	return string(s), true
}

// object consumes a flat JSON object of strings, compact (as a map of
// strings encodes), and returns it as is.
func (p *storedParser) object() ([]byte, bool) {
	start := p.i
	if !p.lit("{") {
		return nil, false
	}
	if !p.lit("}") {
		for {
			if !p.quoted() || !p.lit(":") || !p.quoted() {
				return nil, false
			}
			if p.lit("}") {
				break
			}
			if !p.lit(",") {
				return nil, false
			}
		}
	}
	return p.b[start:p.i], true
}

// quoted consumes a JSON string, escapes included.
func (p *storedParser) quoted() bool {
	if !p.lit(`"`) {
		return false
	}
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if p.i >= len(p.b) {
				return false
			}
			e := p.b[p.i]
			p.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(p.b)-p.i < 4 {
					return false
				}
				for _, h := range p.b[p.i : p.i+4] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				p.i += 4
			default:
				return false
			}
		}
	}
	return false
}
