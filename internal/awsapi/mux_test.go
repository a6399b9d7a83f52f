package awsapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCaller(t *testing.T) {
	m := NewMux(MuxConfig{DefaultRegion: "eu-central-1"})
	scope := func(key, region string) string {
		return "AWS4-HMAC-SHA256 Credential=" + key + "/20261122/" + region + "/servicediscovery/aws4_request, SignedHeaders=host, Signature=abc"
	}
	tests := []struct {
		name, auth, account, region, code string
	}{
		{"no authorization", "", DefaultAccount, "eu-central-1", ""},
		{"access key is not an account", scope("AKIDEXAMPLE", "ap-south-1"), DefaultAccount, "ap-south-1", ""},
		{"12-digit access key is the account", scope("111122223333", "us-west-2"), "111122223333", "us-west-2", ""},
		{"malformed scope", "AWS4-HMAC-SHA256 Credential=AKID/20261122, SignedHeaders=host", DefaultAccount, "eu-central-1", ""},
		{"empty region", scope("AKID", ""), DefaultAccount, "eu-central-1", ""},
		{"region of 32", scope("AKID", "us-"+strings.Repeat("a", 27)+"-1"), DefaultAccount, "us-" + strings.Repeat("a", 27) + "-1", ""},
		{"region of 33", scope("AKID", "us-"+strings.Repeat("a", 28)+"-1"), "", "", "InvalidSignatureException"},
		{"made-up region", scope("AKID", "local"), "", "", "InvalidSignatureException"},
		{"region of 40 KB", scope("AKID", "us-"+strings.Repeat("a", 40<<10)), "", "", "InvalidSignatureException"},
		{"upper-case region", scope("AKID", "US-EAST-1"), "", "", "InvalidSignatureException"},
		{"underscore in region", scope("AKID", "us_east_1"), "", "", "InvalidSignatureException"},
		{"access key of 128", scope(strings.Repeat("K", 128), "us-east-1"), DefaultAccount, "us-east-1", ""},
		{"access key of 129", scope(strings.Repeat("K", 129), "us-east-1"), "", "", "UnrecognizedClientException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			c, err := m.caller(r)
			code := ""
			if err != nil {
				code = err.Code
			}
			if c.Account != tc.account || c.Region != tc.region || code != tc.code {
				t.Errorf("caller(%.80q) = %s/%s, %q; want %s/%s, %q", tc.auth, c.Account, c.Region, code, tc.account, tc.region, tc.code)
			}
			if c.RequestID == "" {
				t.Errorf("caller(%.80q) has no request ID", tc.auth)
			}
		})
	}
}

// awsRegions are the regions of botocore 1.43.11's partitions.json and
// endpoints.json (their pseudo-regions, such as aws-global, are not signing
// regions: SDKs sign for us-east-1 there).
var awsRegions = []string{
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
	"ca-central-1", "ca-west-1", "cn-north-1", "cn-northwest-1", "eu-central-1", "eu-central-2", "eu-isoe-west-1", "eu-north-1",
	"eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "eusc-de-east-1", "il-central-1", "me-central-1", "me-south-1",
	"mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-gov-east-1", "us-gov-west-1", "us-iso-east-1", "us-iso-west-1",
	"us-isob-east-1", "us-isob-west-1", "us-isof-east-1", "us-isof-south-1", "us-west-1", "us-west-2",
}

// TestAWSRegionsAreValid: every AWS region passes ValidRegion (the
// Verifier's TestValidRegion covers what it refuses).
func TestAWSRegionsAreValid(t *testing.T) {
	for _, r := range awsRegions {
		if !ValidRegion(r) {
			t.Errorf("ValidRegion(%q) = false; want true (an AWS region)", r)
		}
	}
	for _, r := range []string{strings.Repeat("a", 40<<10), "us-east-1\x00", "us-éast-1", "us_east_1", "us.east.1"} {
		if ValidRegion(r) {
			t.Errorf("ValidRegion(%.40q) = true; want false", r)
		}
	}
}

// FuzzCredentialScope sends arbitrary Authorization headers through a JSON
// 1.1 and a rest-json service: the answer is never a 500; a success acted
// in a valid region; a refusal is in the protocol's error shape, 400 with
// __type for JSON 1.1 and 403 with x-amzn-ErrorType for rest-json.
func FuzzCredentialScope(f *testing.F) {
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=111122223333/20261122/eu-west-1/servicediscovery/aws4_request, SignedHeaders=host, Signature=0",
		"AWS4-HMAC-SHA256 Credential=AKID/20261122/" + strings.Repeat("a", 100) + "/appmesh/aws4_request",
		"AWS4-HMAC-SHA256 Credential=AKID/20261122/US-EAST-1/appmesh/aws4_request",
		"AWS4-HMAC-SHA256 Credential=" + strings.Repeat("K", 200) + "/20261122/us-east-1/appmesh/aws4_request",
		"AWS4-HMAC-SHA256 Credential=AKID/20261122//appmesh/aws4_request",
		"Credential=a/b/c/d/e,Credential=f",
		"",
	} {
		f.Add(s)
	}
	jm, rm := testMux(), restTestMux()
	f.Fuzz(func(t *testing.T, auth string) {
		req := httptest.NewRequest("POST", "/", strings.NewReader(`{"Name":"abc"}`))
		req.Header.Set("X-Amz-Target", "Test_20200101.Echo")
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		jm.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			var out echoOutput
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Region == nil || !ValidRegion(*out.Region) {
				t.Fatalf("JSON 1.1 with Authorization %q: 200 %s; want a valid region", auth, rec.Body)
			}
		case http.StatusBadRequest:
			if !bytes.Contains(rec.Body.Bytes(), []byte(`"__type"`)) {
				t.Fatalf("JSON 1.1 with Authorization %q: error without __type: %s", auth, rec.Body)
			}
		default:
			t.Fatalf("JSON 1.1 with Authorization %q: %d %s; want 200 or 400", auth, rec.Code, rec.Body)
		}

		req = httptest.NewRequest("PUT", "/v1/groups/g/things", strings.NewReader(`{"name":"abc"}`))
		req.Header.Set("Authorization", auth)
		rec = httptest.NewRecorder()
		rm.ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusOK:
		case rec.Code == http.StatusForbidden && rec.Header().Get("X-Amzn-Errortype") != "" && bytes.Contains(rec.Body.Bytes(), []byte(`"message"`)):
		default:
			t.Fatalf("rest-json with Authorization %q: %d %v %s; want 200, or 403 with x-amzn-ErrorType", auth, rec.Code, rec.Header(), rec.Body)
		}
	})
}
