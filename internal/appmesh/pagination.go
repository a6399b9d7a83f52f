package appmesh

import (
	"sort"

	"github.com/mapmesh/mapmesh/internal/awsapi"
)

// Pagination: every list is sorted by name (unique in its list and never
// changed), and nextToken is the opaque form of the last name returned; the
// next page starts after it, so items added or removed between pages never
// make another item repeat or go missing.

const tokenVersion = "am1:"

// defaultLimit is the page size without limit.
const defaultLimit = 100

func encodeToken(last string) *string { return awsapi.PageToken(tokenVersion, last) }

func decodeToken(tok *string) (string, error) {
	after, ok := awsapi.ParsePageToken(tokenVersion, tok)
	if !ok {
		return "", badRequest("The nextToken is not valid: %s", *tok)
	}
	return after, nil
}

// page returns the entries after token, at most limit (defaultLimit when
// nil) of them, as refs, with the token of the next page. entries must be
// sorted by name.
func page[R any](entries []*entry, limit *int32, token *string, ref func(*entry) R) ([]R, *string, error) {
	after, err := decodeToken(token)
	if err != nil {
		return nil, nil, err
	}
	n := defaultLimit
	if limit != nil {
		n = int(*limit)
	}
	start := 0
	if after != "" {
		start = sort.Search(len(entries), func(i int) bool { return entries[i].key.name > after })
	}
	entries = entries[start:]
	var next *string
	if len(entries) > n {
		entries = entries[:n]
		next = encodeToken(entries[n-1].key.name)
	}
	out := make([]R, len(entries))
	for i, e := range entries {
		out[i] = ref(e)
	}
	return out, next, nil
}
