package conformance

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"

	"github.com/mapmesh/mapmesh/internal/server"
)

func tagList(prefix string, n int) []types.Tag {
	out := make([]types.Tag, n)
	for i := range out {
		out[i] = types.Tag{Key: aws.String(fmt.Sprintf("%s%02d", prefix, i)), Value: aws.String("v")}
	}
	return out
}

func tagsOf(t testing.TB, c *sd.Client, arn string) map[string]string {
	t.Helper()
	out, err := c.ListTagsForResource(bg, &sd.ListTagsForResourceInput{ResourceARN: aws.String(arn)})
	if err != nil {
		t.Fatalf("ListTagsForResource(%s) = %v", arn, err)
	}
	m := map[string]string{}
	for _, tg := range out.Tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

// TestTags: tags on namespaces and services, given at create and with
// TagResource/UntagResource; 50 per resource, counting the ones given at
// create.
func TestTags(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	account := newAccount()
	c := h.client(account, defaultRegion)

	nsID, _ := createHTTPNamespace(t, c, uniq("tags"), func(in *sd.CreateHttpNamespaceInput) {
		in.Tags = []types.Tag{{Key: aws.String("team"), Value: aws.String("blue")}, {Key: aws.String("empty"), Value: aws.String("")}}
	})
	nsArn := nsARN(defaultRegion, account, nsID)
	s := httpService(t, c, nsID, func(in *sd.CreateServiceInput) {
		in.Tags = []types.Tag{{Key: aws.String("tier"), Value: aws.String("web")}}
	})

	for _, tc := range []struct {
		name string
		arn  string
		want map[string]string
	}{
		{"namespace", nsArn, map[string]string{"team": "blue", "empty": ""}},
		{"service", *s.Arn, map[string]string{"tier": "web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := diff(tc.want, tagsOf(t, c, tc.arn)); d != "" {
				t.Errorf("tags given at create (-want +got):\n%s", d)
			}
			if _, err := c.TagResource(bg, &sd.TagResourceInput{ResourceARN: aws.String(tc.arn),
				Tags: []types.Tag{{Key: aws.String("new"), Value: aws.String("1")}, {Key: aws.String("replaced"), Value: aws.String("old")}}}); err != nil {
				t.Fatalf("TagResource = %v", err)
			}
			if _, err := c.TagResource(bg, &sd.TagResourceInput{ResourceARN: aws.String(tc.arn),
				Tags: []types.Tag{{Key: aws.String("replaced"), Value: aws.String("new")}}}); err != nil {
				t.Fatalf("TagResource = %v", err)
			}
			want := map[string]string{"new": "1", "replaced": "new"}
			for k, v := range tc.want {
				want[k] = v
			}
			if d := diff(want, tagsOf(t, c, tc.arn)); d != "" {
				t.Errorf("tags after TagResource (-want +got):\n%s", d)
			}
			if _, err := c.UntagResource(bg, &sd.UntagResourceInput{ResourceARN: aws.String(tc.arn), TagKeys: []string{"new", "never-there"}}); err != nil {
				t.Fatalf("UntagResource = %v", err)
			}
			delete(want, "new")
			if d := diff(want, tagsOf(t, c, tc.arn)); d != "" {
				t.Errorf("tags after UntagResource (-want +got):\n%s", d)
			}
		})
	}

	t.Run("50 at most", func(t *testing.T) {
		id, _ := createHTTPNamespace(t, c, uniq("full"), func(in *sd.CreateHttpNamespaceInput) { in.Tags = tagList("c", 10) })
		arn := nsARN(defaultRegion, account, id)
		if _, err := c.TagResource(bg, &sd.TagResourceInput{ResourceARN: aws.String(arn), Tags: tagList("t", 40)}); err != nil {
			t.Fatalf("TagResource to 50 tags = %v", err)
		}
		_, err := c.TagResource(bg, &sd.TagResourceInput{ResourceARN: aws.String(arn), Tags: tagList("x", 1)})
		e := asError[*types.TooManyTagsException](t, err)
		if got := aws.ToString(e.ResourceName); got != arn {
			t.Errorf("TooManyTagsException.ResourceName = %q; want %q", got, arn)
		}
		// Replacing values of existing keys at the limit is fine.
		if _, err := c.TagResource(bg, &sd.TagResourceInput{ResourceARN: aws.String(arn), Tags: tagList("c", 10)}); err != nil {
			t.Errorf("retagging existing keys at 50 = %v", err)
		}
		if n := len(tagsOf(t, c, arn)); n != 50 {
			t.Errorf("tags = %d; want 50", n)
		}
		svc := httpService(t, c, id, func(in *sd.CreateServiceInput) { in.Tags = tagList("s", 50) })
		_, err = c.TagResource(bg, &sd.TagResourceInput{ResourceARN: svc.Arn, Tags: tagList("y", 1)})
		e = asError[*types.TooManyTagsException](t, err)
		if got := aws.ToString(e.ResourceName); got != *svc.Arn {
			t.Errorf("TooManyTagsException.ResourceName = %q; want %q", got, *svc.Arn)
		}
		// More than 50 at create.
		_, err = c.CreateHttpNamespace(bg, &sd.CreateHttpNamespaceInput{Name: aws.String(uniq("over")), Tags: tagList("o", 51)})
		apiError(t, err, "TooManyTagsException")
		_, err = c.CreateService(bg, &sd.CreateServiceInput{Name: aws.String(uniq("over")), NamespaceId: aws.String(id), Tags: tagList("o", 51)})
		apiError(t, err, "TooManyTagsException")
	})

	t.Run("unknown resource", func(t *testing.T) {
		other := newAccount()
		otherID, _ := createHTTPNamespace(t, h.client(other, defaultRegion), uniq("theirs"))
		for _, arn := range []string{
			nsARN(defaultRegion, account, "ns-aaaaaaaaaaaaaaaa"),
			svcARN(defaultRegion, account, "srv-aaaaaaaaaaaaaaaa"),
			nsARN(defaultRegion, other, otherID), // exists, in another account
			nsARN("eu-west-1", account, nsID),    // exists, in another region
		} {
			_, err := c.ListTagsForResource(bg, &sd.ListTagsForResourceInput{ResourceARN: aws.String(arn)})
			apiError(t, err, "ResourceNotFoundException")
			_, err = c.TagResource(bg, &sd.TagResourceInput{ResourceARN: aws.String(arn), Tags: tagList("k", 1)})
			apiError(t, err, "ResourceNotFoundException")
			_, err = c.UntagResource(bg, &sd.UntagResourceInput{ResourceARN: aws.String(arn), TagKeys: []string{"k00"}})
			apiError(t, err, "ResourceNotFoundException")
		}
	})

	t.Run("deleted resource", func(t *testing.T) {
		id, _ := createHTTPNamespace(t, c, uniq("gone"))
		if _, err := c.DeleteNamespace(bg, &sd.DeleteNamespaceInput{Id: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		_, err := c.ListTagsForResource(bg, &sd.ListTagsForResourceInput{ResourceARN: aws.String(nsARN(defaultRegion, account, id))})
		apiError(t, err, "ResourceNotFoundException")
	})
}
