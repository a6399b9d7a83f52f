package cloudmap

import (
	"sort"

	"github.com/mapmesh/mapmesh/internal/awsapi"
)

// Pagination: every list sorts its items by a key that never changes for an
// item, and NextToken is the opaque form of the last key returned; the next
// page starts after it. Items added or removed between pages therefore
// never make another item repeat or go missing.

const tokenVersion = "mm1:"

func encodeToken(lastKey string) *string { return awsapi.PageToken(tokenVersion, lastKey) }

func decodeToken(tok *string) (string, error) {
	after, ok := awsapi.ParsePageToken(tokenVersion, tok)
	if !ok {
		return "", invalidInput("The NextToken is not valid: %s", *tok)
	}
	return after, nil
}

// paginate sorts items by key and returns the page after token, of at most
// max items (def when max is nil), and the token for the next page.
func paginate[T any](items []T, key func(T) string, max *int32, def int, token *string) ([]T, *string, error) {
	after, err := decodeToken(token)
	if err != nil {
		return nil, nil, err
	}
	n := def
	if max != nil {
		n = int(*max)
	}
	sort.Slice(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
	start := 0
	if after != "" {
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > after })
	}
	items = items[start:]
	if len(items) <= n {
		return items, nil, nil
	}
	return items[:n], encodeToken(key(items[n-1])), nil
}
