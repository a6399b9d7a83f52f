package appmesh

import (
	"context"
	"slices"
	"sort"
	"strings"
)

// Tags live in the resource's record; a tag change is a CAS write of that
// record and does not change its version.

// checkTagKeys rejects the reserved "aws:" prefix and duplicate keys.
func checkTagKeys(tags []TagRef) error {
	seen := map[string]bool{}
	for _, t := range tags {
		k := deref(t.Key)
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return badRequest("Tag keys beginning with aws: are reserved: %s", k)
		}
		if seen[k] {
			return badRequest("Duplicate tag key %s", k)
		}
		seen[k] = true
	}
	return nil
}

// taggable returns the resource an ARN names.
func (p *partition) taggable(arn string) (*entry, error) {
	pk, k, ok := parseARN(arn)
	if !ok {
		return nil, badRequest("%s is not a valid App Mesh resource ARN", arn)
	}
	if pk.account != p.key.account {
		return nil, forbidden("Resource %s belongs to account %s, not to %s", arn, pk.account, p.key.account)
	}
	if pk.region != p.key.region {
		return nil, notFoundMessage("Resource " + arn + " is not in region " + p.key.region)
	}
	_, e, err := p.find(k, nil)
	return e, err
}

func (b *Backend) retag(ctx context.Context, op string, in any, arn string, change func(old []TagRef) ([]TagRef, error)) error {
	_, err := write(b, ctx, op, nil, in, func(p *partition, t *txn) (*struct{}, error) {
		e, err := p.taggable(arn)
		if err != nil {
			return nil, err
		}
		tags, err := change(e.rec.Tags)
		if err != nil {
			return nil, err
		}
		r := *e.rec
		r.Tags = tags
		key := e.key.storeKey(p.key)
		t.cond(key, e.modRev)
		t.put(key, &r)
		return &struct{}{}, nil
	})
	return err
}

// TagResource implements the operation of that name (2019-01-25): a key
// given again takes the new value.
func (b *Backend) TagResource(ctx context.Context, in *TagResourceInput) (*TagResourceOutput, error) {
	if err := checkTagKeys(in.Tags); err != nil {
		return nil, err
	}
	err := b.retag(ctx, "2019/TagResource", in, *in.ResourceARN, func(old []TagRef) ([]TagRef, error) {
		out := slices.Clone(old)
		for _, t := range in.Tags {
			i := slices.IndexFunc(out, func(o TagRef) bool { return deref(o.Key) == deref(t.Key) })
			if i >= 0 {
				out[i] = t
			} else {
				out = append(out, t)
			}
		}
		if len(out) > b.cfg.Quotas.TagsPerResource {
			return nil, tooManyTags(b.cfg.Quotas.TagsPerResource)
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return &TagResourceOutput{}, nil
}

// UntagResource implements the operation of that name (2019-01-25); keys
// the resource does not have are ignored.
func (b *Backend) UntagResource(ctx context.Context, in *UntagResourceInput) (*UntagResourceOutput, error) {
	err := b.retag(ctx, "2019/UntagResource", in, *in.ResourceARN, func(old []TagRef) ([]TagRef, error) {
		return slices.DeleteFunc(slices.Clone(old), func(t TagRef) bool { return slices.Contains(in.TagKeys, deref(t.Key)) }), nil
	})
	if err != nil {
		return nil, err
	}
	return &UntagResourceOutput{}, nil
}

// ListTagsForResource implements the operation of that name (2019-01-25),
// sorted by key and paginated like the other lists.
func (b *Backend) ListTagsForResource(ctx context.Context, in *ListTagsForResourceInput) (*ListTagsForResourceOutput, error) {
	var out *ListTagsForResourceOutput
	err := b.read(ctx, func(p *partition) error {
		e, err := p.taggable(*in.ResourceARN)
		if err != nil {
			return err
		}
		after, err := decodeToken(in.NextToken)
		if err != nil {
			return err
		}
		tags := slices.Clone(e.rec.Tags)
		sort.Slice(tags, func(i, j int) bool { return deref(tags[i].Key) < deref(tags[j].Key) })
		if after != "" {
			tags = tags[sort.Search(len(tags), func(i int) bool { return deref(tags[i].Key) > after }):]
		}
		n := defaultLimit
		if in.Limit != nil {
			n = int(*in.Limit)
		}
		out = &ListTagsForResourceOutput{Tags: tags}
		if len(tags) > n {
			out.Tags = tags[:n]
			out.NextToken = encodeToken(deref(tags[n-1].Key))
		}
		if out.Tags == nil {
			out.Tags = []TagRef{}
		}
		return nil
	})
	return out, err
}
