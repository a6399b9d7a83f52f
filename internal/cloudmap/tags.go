package cloudmap

import (
	"context"
	"strings"
)

// tagRecord is one tag as stored, inside its namespace or service record.
type tagRecord struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

// mergeTags returns old with add applied (a key given again takes the new
// value), or TooManyTagsException when the result exceeds limit.
func mergeTags(old []tagRecord, add []Tag, limit int, arn string) ([]tagRecord, error) {
	out := append([]tagRecord(nil), old...)
	for _, t := range add {
		k, v := *t.Key, *t.Value
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, invalidInput("Tag keys beginning with aws: are reserved: %s", k)
		}
		replaced := false
		for i := range out {
			if out[i].Key == k {
				out[i].Value = v
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, tagRecord{Key: k, Value: v})
		}
	}
	if len(out) > limit {
		return nil, tooManyTags(arn, limit)
	}
	return out, nil
}

func tagsOutput(ts []tagRecord) []Tag {
	out := make([]Tag, len(ts))
	for i, t := range ts {
		out[i] = Tag{Key: str(t.Key), Value: str(t.Value)}
	}
	return out
}

// taggable finds the namespace or service an ARN names. Tags live in the
// resource's record, so a tag change is a CAS write of that record.
func (p *partition) taggable(arn string) (key string, modRev int64, tags []tagRecord, put func(t *txn, tags []tagRecord), err error) {
	if !strings.HasPrefix(arn, "arn:") || strings.Count(arn, ":") != 5 {
		return "", 0, nil, nil, invalidInput("%s is not a valid Cloud Map resource ARN", arn)
	}
	if id := p.resolveID(arn, "namespace"); id != "" {
		if ns := p.namespaces[id]; ns != nil {
			k := p.key.key(kindNamespace, id)
			return k, ns.modRev, ns.rec.Tags, func(t *txn, tags []tagRecord) {
				rec := ns.rec
				rec.Tags = tags
				t.put(k, &rec)
			}, nil
		}
	}
	if id := p.resolveID(arn, "service"); id != "" {
		if s := p.services[id]; s != nil {
			k := p.key.key(kindService, id)
			return k, s.modRev, s.rec.Tags, func(t *txn, tags []tagRecord) {
				rec := s.rec
				rec.Tags = tags
				t.put(k, &rec)
			}, nil
		}
	}
	return "", 0, nil, nil, resourceNotFound(arn)
}

// TagResource implements the operation of that name.
func (b *Backend) TagResource(ctx context.Context, in *TagResourceInput) (*TagResourceOutput, error) {
	_, pk := caller(ctx)
	err := b.update(ctx, pk, func(p *partition, t *txn) error {
		key, rev, old, put, err := p.taggable(*in.ResourceARN)
		if err != nil {
			return err
		}
		tags, err := mergeTags(old, in.Tags, b.cfg.Quotas.TagsPerResource, *in.ResourceARN)
		if err != nil {
			return err
		}
		t.cond(key, rev)
		put(t, tags)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &TagResourceOutput{}, nil
}

// UntagResource implements the operation of that name. Keys that are not
// present are ignored.
func (b *Backend) UntagResource(ctx context.Context, in *UntagResourceInput) (*UntagResourceOutput, error) {
	_, pk := caller(ctx)
	err := b.update(ctx, pk, func(p *partition, t *txn) error {
		key, rev, old, put, err := p.taggable(*in.ResourceARN)
		if err != nil {
			return err
		}
		var tags []tagRecord
		for _, tg := range old {
			if !contains(in.TagKeys, tg.Key) {
				tags = append(tags, tg)
			}
		}
		if len(tags) == len(old) {
			return nil // nothing to remove: no write
		}
		t.cond(key, rev)
		put(t, tags)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &UntagResourceOutput{}, nil
}

// ListTagsForResource implements the operation of that name.
func (b *Backend) ListTagsForResource(ctx context.Context, in *ListTagsForResourceInput) (*ListTagsForResourceOutput, error) {
	_, pk := caller(ctx)
	var out *ListTagsForResourceOutput
	var err error
	if werr := b.read(ctx, pk, func(p *partition) {
		var tags []tagRecord
		if _, _, tags, _, err = p.taggable(*in.ResourceARN); err == nil {
			out = &ListTagsForResourceOutput{Tags: tagsOutput(tags)}
		}
	}); werr != nil {
		return nil, werr
	}
	return out, err
}
