package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// The ready command: how long a (re)started server takes to answer
// DiscoverInstances.

// ReadyResult is what the ready command prints.
type ReadyResult struct {
	Scenario string `json:"scenario"`
	Endpoint string `json:"endpoint"`
	// From -since (the moment the server was started) to the first HTTP
	// answer of any status, and to the first 2xx DiscoverInstances answer.
	FirstResponseSec float64          `json:"first_response_s"`
	FirstAnswerSec   float64          `json:"first_answer_s"`
	Instances        int              `json:"instances"` // in that answer
	Attempts         int              `json:"attempts"`
	Errors           map[string]int64 `json:"errors"` // the failed attempts before it
}

func (r *ReadyResult) writeText(w io.Writer) {
	if r.FirstAnswerSec > 0 {
		fmt.Fprintf(w, "ready %s: first answer %.2fs after the start (first HTTP response %.2fs), %d instances; %d attempts",
			r.Endpoint, r.FirstAnswerSec, r.FirstResponseSec, r.Instances, r.Attempts)
	} else {
		fmt.Fprintf(w, "ready %s: first HTTP response %.2fs after the start, an error answer; %d attempts",
			r.Endpoint, r.FirstResponseSec, r.Attempts)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(w, "; %s: %d", k, r.Errors[k])
	}
	fmt.Fprintln(w)
}

// waitReady sends in until it is answered with 2xx (with anyAnswer, any
// HTTP answer: the time a server without that service takes to serve), every
// interval, for at most wait. Times are from since.
func waitReady(ctx context.Context, c *client, in discoverInput, since time.Time, interval, wait time.Duration, anyAnswer bool) (*ReadyResult, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	res := &ReadyResult{Scenario: "ready", Endpoint: c.endpoint, Errors: map[string]int64{}}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		res.Attempts++
		raw, err := c.rawCall(ctx, "DiscoverInstances", body)
		now := time.Now()
		var ae *apiError
		if (err == nil || errors.As(err, &ae)) && res.FirstResponseSec == 0 {
			res.FirstResponseSec = now.Sub(since).Seconds()
		}
		if err == nil {
			var out discoverOutput
			if err := json.Unmarshal(raw, &out); err != nil {
				return nil, fmt.Errorf("ready: DiscoverInstances answer does not parse: %w", err)
			}
			res.FirstAnswerSec = now.Sub(since).Seconds()
			res.Instances = len(out.Instances)
			return res, nil
		}
		if anyAnswer && ae != nil {
			res.Errors[errKey(err)]++
			return res, nil
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("ready: no answer %v after the start (%d attempts, last error: %v)", now.Sub(since).Round(time.Millisecond), res.Attempts, err)
		}
		res.Errors[errKey(err)]++
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
}

func runReady(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ready", flag.ExitOnError)
	var f clientFlags
	f.register(fs, "http://127.0.0.1:8080")
	namespace := fs.String("namespace", "scale-0000", "namespace name")
	service := fs.String("service", "svc-00", "service name")
	maxResults := fs.Int("max-results", 1000, "MaxResults")
	sinceNs := fs.Int64("since-ns", 0, "when the server was started, in Unix `nanoseconds` (date +%s%N); default: now")
	interval := fs.Duration("interval", 10*time.Millisecond, "pause between attempts")
	wait := fs.Duration("wait", 2*time.Minute, "give up after this long")
	expect := fs.Int("expect", -1, "fail unless the answer holds this many instances (-1: any)")
	anyAnswer := fs.Bool("any-answer", false, "stop at the first HTTP answer, an error one too (for a server that does not hold the service, e.g. an empty one)")
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout (the text summary goes to stderr)")
	fs.Parse(args)
	since := time.Now()
	if *sinceNs > 0 {
		since = time.Unix(0, *sinceNs)
	}
	c, err := f.client(1)
	if err != nil {
		return err
	}
	in := discoverInput{NamespaceName: *namespace, ServiceName: *service, MaxResults: *maxResults, HealthStatus: "ALL"}
	res, err := waitReady(ctx, c, in, since, *interval, *wait, *anyAnswer)
	if err != nil {
		return err
	}
	if err := printResult(res, *asJSON, res.writeText); err != nil {
		return err
	}
	if *expect >= 0 && !*anyAnswer && res.Instances != *expect {
		return fmt.Errorf("ready: the first answer holds %d instances; want %d", res.Instances, *expect)
	}
	return nil
}
