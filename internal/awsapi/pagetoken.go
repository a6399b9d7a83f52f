package awsapi

import (
	"encoding/base64"
	"strings"
)

// PageToken returns the opaque NextToken for a list that resumes after the
// item whose sort key is last. The kind (e.g. "mm1:") says which service and
// token version made it, so one service never accepts another's token.
func PageToken(kind, last string) *string {
	s := base64.RawURLEncoding.EncodeToString([]byte(kind + last))
	return &s
}

// ParsePageToken returns the sort key a token of kind resumes after: "" for
// no token, ok false for a token that is not one of kind's.
func ParsePageToken(kind string, tok *string) (last string, ok bool) {
	if tok == nil || *tok == "" {
		return "", true
	}
	b, err := base64.RawURLEncoding.DecodeString(*tok)
	if err != nil || !strings.HasPrefix(string(b), kind) {
		return "", false
	}
	return strings.TrimPrefix(string(b), kind), true
}
