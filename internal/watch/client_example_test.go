package watch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The README's Go snippet, verbatim (TestReadmeSnippet checks): follow a
// service with blocking queries. TestFollowSnippet runs it.

const emptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" // SHA-256 of ""

type instance struct {
	InstanceId string
	Attributes map[string]string
}

// follow calls onChange with the service's instances now and after every change, until ctx ends.
func follow(ctx context.Context, endpoint string, creds aws.Credentials, region, namespace, service string,
	onChange func([]instance)) error {
	signer := v4.NewSigner()
	index := ""
	for ctx.Err() == nil {
		q := url.Values{"namespace": {namespace}, "service": {service}, "index": {index}, "wait": {"5m"}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/_mapmesh/v1/discover?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		if err := signer.SignHTTP(ctx, creds, req, emptyPayload, "servicediscovery", region, time.Now()); err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(time.Second) // the server restarts, say: try again
			continue
		}
		var out struct{ Instances []instance }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return fmt.Errorf("discover %s/%s: HTTP %d %v", namespace, service, resp.StatusCode, err)
		}
		if next := resp.Header.Get("X-Mapmesh-Index"); next != index {
			index = next
			onChange(out.Instances)
		}
	}
	return ctx.Err()
}
