package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// VisibilityResult is what the visibility command measured: for each
// write, the time from its acknowledgement by one server to its first
// sighting through another's API.
type VisibilityResult struct {
	Scenario string  `json:"scenario"`
	Writes   int     `json:"writes"`
	PollMS   float64 `json:"poll_ms"`
	Latency  Latency `json:"latency"`
	// WriteLatency is the distribution of the writes themselves.
	WriteLatency Latency `json:"write_latency"`
}

func (r *VisibilityResult) writeText(w io.Writer) {
	l := r.Latency
	fmt.Fprintf(w, "visibility: %d writes, acknowledged -> visible on the other server: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (polled every %.1f ms); the writes: p50 %.2f ms, p99 %.2f ms\n",
		r.Writes, l.P50, l.P90, l.P99, l.Max, r.PollMS, r.WriteLatency.P50, r.WriteLatency.P99)
}

// runVisibility registers instances one at a time through -endpoint and,
// after each is acknowledged, asks -read-endpoint for it (GetInstance)
// until it answers: the cross-server visibility of a cluster's servers.
func runVisibility(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("visibility", flag.ExitOnError)
	var f, rf clientFlags
	f.register(fs, "http://127.0.0.1:8080")
	fs.StringVar(&rf.endpoint, "read-endpoint", "", "server `URL` to read each write back from (another server of the cluster)")
	namespace := fs.String("namespace", "bench", "namespace name")
	service := fs.String("service", "svc", "service name")
	n := fs.Int("n", 200, "writes")
	poll := fs.Duration("poll", time.Millisecond, "pause between two reads of a write not yet visible")
	bound := fs.Duration("bound", 10*time.Second, "fail when a write is not visible after this long")
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout (the text summary goes to stderr)")
	fs.Parse(args)
	if rf.endpoint == "" || *n < 1 {
		return errors.New("need -read-endpoint and -n >= 1")
	}
	rf.host, rf.region, rf.accessKey, rf.secretKey, rf.timeout = f.host, f.region, f.accessKey, f.secretKey, f.timeout
	w, err := f.client(1)
	if err != nil {
		return err
	}
	r, err := rf.client(1)
	if err != nil {
		return err
	}
	svcID, err := resolveService(ctx, w, *namespace, *service)
	if err != nil {
		return err
	}
	res, err := measureVisibility(ctx, w, r, svcID, *n, *poll, *bound)
	if err != nil {
		return err
	}
	return printResult(res, *asJSON, res.writeText)
}

// measureVisibility makes n writes through w, each read back through r
// (every poll, for at most bound) before the next.
func measureVisibility(ctx context.Context, w, r *client, svcID string, n int, poll, bound time.Duration) (*VisibilityResult, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := "vis-" + hex.EncodeToString(b[:]) + "-"
	var seen, wrote []time.Duration
	for i := range n {
		id := fmt.Sprintf("%s%d", prefix, i)
		start := time.Now()
		if err := w.call(ctx, "RegisterInstance", registerInput{ServiceId: svcID, InstanceId: id, CreatorRequestId: id,
			Attributes: instanceAttributes(int64(i))}, nil); err != nil {
			return nil, err
		}
		acked := time.Now()
		wrote = append(wrote, acked.Sub(start))
		for {
			err := r.call(ctx, "GetInstance", map[string]string{"ServiceId": svcID, "InstanceId": id}, nil)
			if err == nil {
				break
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.Type != "InstanceNotFound" {
				return nil, err
			}
			if time.Since(acked) > bound {
				return nil, fmt.Errorf("instance %s not visible on the other server %v after its acknowledgement", id, bound)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(poll):
			}
		}
		seen = append(seen, time.Since(acked))
	}
	return &VisibilityResult{Scenario: "visibility", Writes: n, PollMS: float64(poll) / float64(time.Millisecond),
		Latency: summarize(seen), WriteLatency: summarize(wrote)}, nil
}
