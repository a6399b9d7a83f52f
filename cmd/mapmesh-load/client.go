package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	targetPrefix   = "Route53AutoNaming_v20170314."
	signingService = "servicediscovery"
	contentType    = "application/x-amz-json-1.1"
)

// client sends SigV4-signed AWS JSON 1.1 requests to one Cloud Map endpoint.
// It is safe for concurrent use.
type client struct {
	endpoint string // URL requests are sent to, e.g. http://127.0.0.1:8080/
	host     string // Host header override; empty means the endpoint's host
	region   string
	creds    aws.Credentials
	signer   *v4.Signer
	hc       *http.Client
}

// newClient returns a client with a keep-alive HTTP/1.1 transport that keeps
// at least conns idle connections to the endpoint and never asks for
// compression.
func newClient(endpoint, host, region, accessKey, secretKey string, conns int, timeout time.Duration) *client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * conns,
		MaxIdleConnsPerHost: 2 * conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		Protocols:           new(http.Protocols),
	}
	tr.Protocols.SetHTTP1(true) // HTTP/1.1 only, also for https endpoints
	return &client{
		endpoint: endpoint,
		host:     host,
		region:   region,
		creds:    aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey, Source: "mapmesh-load"},
		signer:   v4.NewSigner(),
		hc:       &http.Client{Transport: tr, Timeout: timeout},
	}
}

// payloadHash is the hex SHA-256 of body, as SigV4 wants it.
func payloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// newRequest builds and signs a request for op. hash must be payloadHash(body);
// callers with a fixed body compute it once.
func (c *client) newRequest(ctx context.Context, op string, body []byte, hash string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Amz-Target", targetPrefix+op)
	if c.host != "" {
		req.Host = c.host
	}
	if err := c.signer.SignHTTP(ctx, c.creds, req, hash, signingService, c.region, time.Now()); err != nil {
		return nil, fmt.Errorf("load: sign %s: %w", op, err)
	}
	return req, nil
}

// do sends one signed request and reads the whole response into buf
// (which is reset first). It returns the HTTP status and response header.
func (c *client) do(req *http.Request, buf *bytes.Buffer) (int, http.Header, error) {
	buf.Reset()
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	_, err = buf.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, err
}

// apiError is a non-2xx answer from the server.
type apiError struct {
	Status  int
	Type    string // AWS error code, e.g. ServiceNotFound; empty when none was sent
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message)
}

// key is how errors are counted in a Result: "400 ServiceNotFound".
func (e *apiError) key() string {
	if e.Type == "" {
		return fmt.Sprint(e.Status)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Type)
}

// parseAPIError decodes an AWS JSON error body. The code comes from the
// X-Amzn-ErrorType header when present, else from __type; both may carry a
// namespace ("aws.protocoltests#Foo") or a suffix ("Foo:http://...").
func parseAPIError(status int, header http.Header, body []byte) *apiError {
	var e struct {
		Type     string `json:"__type"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	_ = json.Unmarshal(body, &e)
	code := header.Get("X-Amzn-ErrorType")
	if code == "" {
		code = e.Type
	}
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	msg := e.Message
	if msg == "" {
		msg = e.MessageU
	}
	return &apiError{Status: status, Type: code, Message: msg}
}

// call sends op with in marshalled as JSON and decodes a 2xx answer into out
// (which may be nil). A non-2xx answer is returned as *apiError.
func (c *client) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	raw, err := c.rawCall(ctx, op, body)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("load: %s: decode response: %w", op, err)
	}
	return nil
}

// rawCall sends op with body and returns the body of a 2xx answer.
func (c *client) rawCall(ctx context.Context, op string, body []byte) ([]byte, error) {
	req, err := c.newRequest(ctx, op, body, payloadHash(body))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	status, hdr, err := c.do(req, &buf)
	if err != nil {
		return nil, fmt.Errorf("load: %s: %w", op, err)
	}
	if status/100 != 2 {
		return nil, fmt.Errorf("load: %s: %w", op, parseAPIError(status, hdr, buf.Bytes()))
	}
	return buf.Bytes(), nil
}
