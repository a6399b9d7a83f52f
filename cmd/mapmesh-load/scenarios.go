package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Wire shapes, only the fields this tool sends or reads.

type discoverInput struct {
	NamespaceName string
	ServiceName   string
	MaxResults    int    `json:",omitempty"`
	HealthStatus  string `json:",omitempty"`
}

type discoverOutput struct {
	Instances []struct {
		InstanceId string
		Attributes map[string]string
	}
	InstancesRevision int64
}

type registerInput struct {
	ServiceId        string
	InstanceId       string
	CreatorRequestId string
	Attributes       map[string]string
}

type filter struct {
	Name      string
	Values    []string
	Condition string
}

// instanceAttributes are the attributes of the i-th instance: the two that
// DNS and xDS read, plus custom ones of realistic size.
func instanceAttributes(i int64) map[string]string {
	return map[string]string{
		"AWS_INSTANCE_IPV4": fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
		"AWS_INSTANCE_PORT": "8080",
		"stage":             "prod",
		"az":                []string{"us-east-1a", "us-east-1b", "us-east-1c"}[i%3],
		"version":           fmt.Sprintf("1.%d.0", i%4),
	}
}

// seedInstanceID names the i-th seeded instance like an EC2 instance.
func seedInstanceID(i int64) string { return fmt.Sprintf("i-%017x", i) }

// findNamespace returns the id of the namespace called name, or "".
func findNamespace(ctx context.Context, c *client, name string) (string, error) {
	token := ""
	for {
		var out struct {
			Namespaces []struct{ Id, Name string }
			NextToken  string
		}
		in := map[string]any{}
		if token != "" {
			in["NextToken"] = token
		}
		if err := c.call(ctx, "ListNamespaces", in, &out); err != nil {
			return "", err
		}
		for _, ns := range out.Namespaces {
			if ns.Name == name {
				return ns.Id, nil
			}
		}
		if token = out.NextToken; token == "" {
			return "", nil
		}
	}
}

// findService returns the id of the service called name in namespace nsID, or "".
func findService(ctx context.Context, c *client, nsID, name string) (string, error) {
	token := ""
	for {
		var out struct {
			Services  []struct{ Id, Name string } // ServiceSummary has no NamespaceId: trust the filter
			NextToken string
		}
		in := map[string]any{"Filters": []filter{{Name: "NAMESPACE_ID", Values: []string{nsID}, Condition: "EQ"}}}
		if token != "" {
			in["NextToken"] = token
		}
		if err := c.call(ctx, "ListServices", in, &out); err != nil {
			return "", err
		}
		for _, s := range out.Services {
			if s.Name == name {
				return s.Id, nil
			}
		}
		if token = out.NextToken; token == "" {
			return "", nil
		}
	}
}

// resolveService finds the service id for a namespace and service name.
func resolveService(ctx context.Context, c *client, namespace, service string) (string, error) {
	nsID, err := findNamespace(ctx, c, namespace)
	if err != nil {
		return "", err
	}
	if nsID == "" {
		return "", fmt.Errorf("load: namespace %q not found (run seed first)", namespace)
	}
	id, err := findService(ctx, c, nsID, service)
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", fmt.Errorf("load: service %q not found in namespace %q (run seed first)", service, namespace)
	}
	return id, nil
}

// waitOperation polls GetOperation until the operation succeeds and returns
// its targets (e.g. "NAMESPACE" -> id).
func waitOperation(ctx context.Context, c *client, opID string, timeout time.Duration) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var out struct {
			Operation struct {
				Status       string
				ErrorMessage string
				Targets      map[string]string
			}
		}
		if err := c.call(ctx, "GetOperation", map[string]string{"OperationId": opID}, &out); err != nil {
			return nil, err
		}
		switch op := out.Operation; op.Status {
		case "SUCCESS":
			return op.Targets, nil
		case "FAIL":
			return nil, fmt.Errorf("load: operation %s failed: %s", opID, op.ErrorMessage)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("load: operation %s still %s: %w", opID, out.Operation.Status, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// seedResult is what seed prints with -json.
type seedResult struct {
	NamespaceID string  `json:"namespace_id"`
	ServiceID   string  `json:"service_id"`
	Instances   int     `json:"instances"`
	Seconds     float64 `json:"seconds"`
}

// seed makes sure an HTTP namespace and a service exist, registers n
// instances (ids i-00000000000000000 onward, so seeding again updates rather
// than adds) with conc workers, and waits until DiscoverInstances returns
// all n.
func seed(ctx context.Context, c *client, namespace, service string, n, conc int, opTimeout time.Duration) (*seedResult, error) {
	start := time.Now()
	nsID, err := findNamespace(ctx, c, namespace)
	if err != nil {
		return nil, err
	}
	if nsID == "" {
		var out struct{ OperationId string }
		in := map[string]string{"Name": namespace, "CreatorRequestId": "mapmesh-load-ns-" + namespace}
		if err := c.call(ctx, "CreateHttpNamespace", in, &out); err != nil {
			return nil, err
		}
		targets, err := waitOperation(ctx, c, out.OperationId, opTimeout)
		if err != nil {
			return nil, err
		}
		if nsID = targets["NAMESPACE"]; nsID == "" {
			return nil, fmt.Errorf("load: operation %s has no NAMESPACE target", out.OperationId)
		}
	}

	svcID, err := findService(ctx, c, nsID, service)
	if err != nil {
		return nil, err
	}
	if svcID != "" && countInstances(ctx, c, namespace, service) == n {
		return &seedResult{NamespaceID: nsID, ServiceID: svcID, Instances: n, Seconds: time.Since(start).Seconds()}, nil
	}
	if svcID == "" {
		var out struct{ Service struct{ Id string } }
		in := map[string]string{"Name": service, "NamespaceId": nsID, "CreatorRequestId": "mapmesh-load-svc-" + nsID + "-" + service}
		if err := c.call(ctx, "CreateService", in, &out); err != nil {
			return nil, err
		}
		svcID = out.Service.Id
	}

	var next atomic.Int64
	errs := make([]error, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n) && errs[w] == nil; i = next.Add(1) - 1 {
				in := registerInput{
					ServiceId:        svcID,
					InstanceId:       seedInstanceID(i),
					CreatorRequestId: fmt.Sprintf("mapmesh-load-seed-%s-%d", svcID, i),
					Attributes:       instanceAttributes(i),
				}
				errs[w] = c.call(ctx, "RegisterInstance", in, nil)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	// Registration may complete asynchronously: wait until all are visible.
	deadline := time.Now().Add(opTimeout)
	for {
		got := countInstances(ctx, c, namespace, service)
		if got == n {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("load: DiscoverInstances(%s/%s) returns %d instances; want %d", namespace, service, got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &seedResult{NamespaceID: nsID, ServiceID: svcID, Instances: n, Seconds: time.Since(start).Seconds()}, nil
}

// countInstances returns how many instances DiscoverInstances returns, or -1
// on error.
func countInstances(ctx context.Context, c *client, namespace, service string) int {
	var out discoverOutput
	if err := c.call(ctx, "DiscoverInstances", discoverInput{NamespaceName: namespace, ServiceName: service, MaxResults: 1000}, &out); err != nil {
		return -1
	}
	return len(out.Instances)
}

// discoverPayload builds the fixed DiscoverInstances request and checks once
// that the answer parses and holds want instances (any number if want < 0).
// If save is set, the raw answer is written there (the stub's canned body).
func discoverPayload(ctx context.Context, c *client, in discoverInput, want int, save string) (payloadFunc, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	raw, err := c.rawCall(ctx, "DiscoverInstances", body)
	if err != nil {
		return nil, err
	}
	var out discoverOutput
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("load: DiscoverInstances answer does not parse: %w", err)
	}
	if want >= 0 && len(out.Instances) != want {
		return nil, fmt.Errorf("load: DiscoverInstances(%s/%s) returned %d instances; want %d",
			in.NamespaceName, in.ServiceName, len(out.Instances), want)
	}
	if save != "" {
		if err := os.WriteFile(save, raw, 0o644); err != nil {
			return nil, err
		}
	}
	return fixedPayload(body), nil
}

// revisionPayload builds the fixed DiscoverInstancesRevision request and
// checks once that the answer parses.
func revisionPayload(ctx context.Context, c *client, namespace, service string) (payloadFunc, error) {
	body, err := json.Marshal(map[string]string{"NamespaceName": namespace, "ServiceName": service})
	if err != nil {
		return nil, err
	}
	raw, err := c.rawCall(ctx, "DiscoverInstancesRevision", body)
	if err != nil {
		return nil, err
	}
	var out struct{ InstancesRevision *int64 }
	if err := json.Unmarshal(raw, &out); err != nil || out.InstancesRevision == nil {
		return nil, fmt.Errorf("load: DiscoverInstancesRevision answer %.200q has no InstancesRevision", raw)
	}
	return fixedPayload(body), nil
}

// registerPayload registers an instance per request. Instance ids are unique
// within the run and across runs; with idSpace > 0 they cycle over idSpace
// ids, so that after the first idSpace requests each one updates an existing
// instance (for servers that enforce AWS's 1,000-instances-per-service
// quota). CreatorRequestIds are always unique.
func registerPayload(serviceID string, idSpace int64) payloadFunc {
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := "load-" + hex.EncodeToString(b[:]) + "-"
	return func(i int64) ([]byte, string) {
		id := i
		if idSpace > 0 {
			id = i % idSpace
		}
		body, _ := json.Marshal(registerInput{
			ServiceId:        serviceID,
			InstanceId:       fmt.Sprintf("%s%d", prefix, id),
			CreatorRequestId: fmt.Sprintf("%sreq-%d", prefix, i),
			Attributes:       instanceAttributes(i),
		})
		return body, payloadHash(body)
	}
}
