package awsapi

import (
	"fmt"
	"hash/maphash"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf16"
)

// Validator is implemented by generated input shapes. Validate adds every
// violation of the model's constraints found in the value to v; path is the
// member path of the value itself ("" for a request).
type Validator interface {
	Validate(v *Validation, path string)
}

// Validation collects constraint violations and renders them the way AWS's
// front door (Coral) does:
//
//	2 validation errors detected: Value null at 'id' failed to satisfy
//	constraint: Member must not be null; Value '' at 'name' failed to ...
type Validation struct {
	msgs []string
}

// Len returns how many violations were found.
func (v *Validation) Len() int { return len(v.msgs) }

// Message returns the Coral-style text, or "" if nothing was found.
func (v *Validation) Message() string {
	switch len(v.msgs) {
	case 0:
		return ""
	case 1:
		return "1 validation error detected: " + v.msgs[0]
	}
	return strconv.Itoa(len(v.msgs)) + " validation errors detected: " + strings.Join(v.msgs, "; ")
}

// Err returns an *Error with the given code (InvalidInput for Cloud Map,
// BadRequestException for App Mesh), or nil when nothing was found.
func (v *Validation) Err(code string) error {
	if len(v.msgs) == 0 {
		return nil
	}
	return &Error{Code: code, Message: v.Message()}
}

// Add records that value at path fails constraint.
func (v *Validation) Add(value any, path, constraint string) {
	v.msgs = append(v.msgs, "Value "+renderValue(value)+" at '"+path+"' failed to satisfy constraint: "+constraint)
}

// Null records a missing required member.
func (v *Validation) Null(path string) {
	v.msgs = append(v.msgs, "Value null at '"+path+"' failed to satisfy constraint: Member must not be null")
}

// Union records a union (tagged) structure at path that does not have
// exactly one member set; set says, per member, whether it is.
func (v *Validation) Union(path string, set ...bool) {
	n := 0
	for _, ok := range set {
		if ok {
			n++
		}
	}
	if n != 1 {
		where := path
		if where == "" {
			where = "request"
		}
		v.msgs = append(v.msgs, "Value at '"+where+"' failed to satisfy constraint: Union must have exactly one member set, found "+strconv.Itoa(n))
	}
}

// Member returns the path of member name inside path: the model name with
// its first letter lowered, joined with '.', as Coral writes it.
func Member(path, name string) string {
	if c := name[0]; 'A' <= c && c <= 'Z' {
		name = string(c+'a'-'A') + name[1:]
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

// Elem returns the path of the i-th (0-based) element of the list at path,
// in Coral's 1-based "list.1.member" form.
func Elem(path string, i int) string {
	return path + "." + strconv.Itoa(i+1) + ".member"
}

// StringRule holds the model constraints of a string shape.
type StringRule struct {
	Min, Max int // -1 when absent
	// Pattern is matched against the whole string; PatternText is the
	// model's pattern as AWS quotes it.
	Pattern     *regexp.Regexp
	PatternText string
	// NotPrefix rejects strings with this prefix (the model's negative
	// look-ahead "(?!arn:)", which RE2 cannot express). It is reported as a
	// pattern failure.
	NotPrefix string
	// PatternLen, when its upper bound is set, also fails the pattern for
	// strings whose length is outside [PatternLen[0], PatternLen[1]] (the
	// model's look-ahead "(?=^.{1,127}$)").
	PatternLen [2]int
	// Enum lists the allowed values, if any.
	Enum []string

	// matched holds strings that matched Pattern lately, in the slot of
	// their hash: the same names come request after request, and looking
	// one up costs a fraction of matching it.
	matched [64]atomic.Pointer[string]
}

// matchedSeed hashes strings to StringRule.matched slots.
var matchedSeed = maphash.MakeSeed()

// maxMatchedLen bounds the strings StringRule.matched keeps.
const maxMatchedLen = 256

// Check returns the violated constraints of s, in Coral's words.
func (r *StringRule) Check(s string) []string {
	var out []string
	n := utf16Len(s)
	if r.Max >= 0 && n > r.Max {
		out = append(out, "Member must have length less than or equal to "+strconv.Itoa(r.Max))
	}
	if r.Min >= 0 && n < r.Min {
		out = append(out, "Member must have length greater than or equal to "+strconv.Itoa(r.Min))
	}
	if r.Pattern != nil && !r.matchPattern(s, n) {
		out = append(out, "Member must satisfy regular expression pattern: "+r.PatternText)
	}
	if len(r.Enum) > 0 {
		ok := false
		for _, e := range r.Enum {
			if s == e {
				ok = true
				break
			}
		}
		if !ok {
			out = append(out, "Member must satisfy enum value set: ["+strings.Join(r.Enum, ", ")+"]")
		}
	}
	return out
}

func (r *StringRule) matchPattern(s string, n int) bool {
	if r.NotPrefix != "" && strings.HasPrefix(s, r.NotPrefix) {
		return false
	}
	if r.PatternLen[1] > 0 && (n < r.PatternLen[0] || n > r.PatternLen[1]) {
		return false
	}
	if len(s) > maxMatchedLen {
		return r.Pattern.MatchString(s)
	}
	slot := &r.matched[maphash.String(matchedSeed, s)%uint64(len(r.matched))]
	if p := slot.Load(); p != nil && *p == s {
		return true
	}
	if !r.Pattern.MatchString(s) {
		return false
	}
	kept := s
	slot.Store(&kept)
	return true
}

// String checks s against r and records each violation at path.
func (v *Validation) String(path, s string, r *StringRule) {
	for _, c := range r.Check(s) {
		v.Add(s, path, c)
	}
}

// IntRule holds the model range of a number shape.
type IntRule struct {
	Min, Max       int64
	HasMin, HasMax bool
}

// Int checks n against r.
func (v *Validation) Int(path string, n int64, r *IntRule) {
	if r.HasMax && n > r.Max {
		v.Add(n, path, "Member must have value less than or equal to "+strconv.FormatInt(r.Max, 10))
	}
	if r.HasMin && n < r.Min {
		v.Add(n, path, "Member must have value greater than or equal to "+strconv.FormatInt(r.Min, 10))
	}
}

// Size checks the number of elements of a list or map at path against the
// model's length bounds (-1 when absent).
func (v *Validation) Size(path string, value any, n, min, max int) {
	if max >= 0 && n > max {
		v.Add(value, path, "Member must have length less than or equal to "+strconv.Itoa(max))
	}
	if min >= 0 && n < min {
		v.Add(value, path, "Member must have length greater than or equal to "+strconv.Itoa(min))
	}
}

// StringMap checks every key and value of m against the rules (either may be
// nil) and records one violation per failing side, as Coral does.
func (v *Validation) StringMap(path string, m map[string]string, key, val *StringRule) {
	var keyFails, valFails []string
	for _, k := range sortedKeys(m) {
		if key != nil && keyFails == nil {
			keyFails = key.Check(k)
		}
		if val != nil && valFails == nil {
			valFails = val.Check(m[k])
		}
	}
	if keyFails != nil {
		v.Add(m, path, "Map keys must satisfy constraint: ["+strings.Join(keyFails, ", ")+"]")
	}
	if valFails != nil {
		v.Add(m, path, "Map value must satisfy constraint: ["+strings.Join(valFails, ", ")+"]")
	}
}

// Strings checks every element of a list of strings against r.
func (v *Validation) Strings(path string, list []string, r *StringRule) {
	for i, s := range list {
		v.String(Elem(path, i), s, r)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// renderValue writes a value the way Coral quotes it: strings and numbers
// in single quotes, maps as '{k=v, ...}', lists as '[a, b]'.
func renderValue(x any) string {
	switch t := x.(type) {
	case nil:
		return "null"
	case string:
		return "'" + t + "'"
	case map[string]string:
		var b strings.Builder
		b.WriteString("'{")
		for i, k := range sortedKeys(t) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k + "=" + t[k])
		}
		b.WriteString("}'")
		return b.String()
	case []string:
		return "'[" + strings.Join(t, ", ") + "]'"
	}
	return "'" + fmt.Sprint(x) + "'"
}

// MustPattern compiles a model pattern for whole-string matching, as Java's
// Matcher.matches does.
func MustPattern(p string) *regexp.Regexp {
	return regexp.MustCompile(`^(?:` + p + `)$`)
}
