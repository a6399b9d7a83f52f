package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// The ops command: how long ListOperations pages take when many operations
// are retained, at the start of the list, deep in it, and filtered.

// opsPage is one ListOperations answer.
type opsPage struct {
	items int
	next  string
	d     time.Duration
}

// opsLister sends ListOperations pages, sequentially.
type opsLister struct {
	c          *client
	maxResults int
}

func (o *opsLister) page(ctx context.Context, filters []filter, token string) (opsPage, error) {
	in := map[string]any{"MaxResults": o.maxResults}
	if len(filters) > 0 {
		in["Filters"] = filters
	}
	if token != "" {
		in["NextToken"] = token
	}
	var out struct {
		Operations []struct{ Id, Status string }
		NextToken  string
	}
	t0 := time.Now()
	err := o.c.call(ctx, "ListOperations", in, &out)
	return opsPage{items: len(out.Operations), next: out.NextToken, d: time.Since(t0)}, err
}

// OpsKind is the timing of one kind of page.
type OpsKind struct {
	Kind       string  `json:"kind"`
	What       string  `json:"what"`
	Pages      int     `json:"pages"`                 // pages timed
	StartDepth int64   `json:"start_depth,omitempty"` // operations listed before the first timed page
	MinItems   int     `json:"min_items"`             // operations per page
	MaxItems   int     `json:"max_items"`
	Matching   *int64  `json:"matching,omitempty"` // filtered kinds: operations that match, when the whole filtered list was read
	P50        float64 `json:"p50_ms"`
	P90        float64 `json:"p90_ms"`
	Max        float64 `json:"max_ms"`
	Mean       float64 `json:"mean_ms"`
	Error      string  `json:"error,omitempty"` // what stopped it early
}

// kindTimer accumulates the pages of one kind.
type kindTimer struct {
	k    *OpsKind
	lats []time.Duration
}

func newKind(kind, what string) *kindTimer {
	return &kindTimer{k: &OpsKind{Kind: kind, What: what, MinItems: -1}}
}

func (t *kindTimer) add(p opsPage) {
	t.lats = append(t.lats, p.d)
	t.k.Pages++
	if t.k.MinItems < 0 || p.items < t.k.MinItems {
		t.k.MinItems = p.items
	}
	t.k.MaxItems = max(t.k.MaxItems, p.items)
}

func (t *kindTimer) done(err error) OpsKind {
	l := summarize(t.lats)
	t.k.P50, t.k.P90, t.k.Max, t.k.Mean = l.P50, l.P90, l.Max, l.Mean
	t.k.MinItems = max(t.k.MinItems, 0)
	if err != nil {
		t.k.Error = err.Error()
	}
	return *t.k
}

// OpsWalk is the walk from the start of the list toward the deep pages.
type OpsWalk struct {
	Pages      int     `json:"pages"`
	Operations int64   `json:"operations"` // listed in the walk
	ReachedEnd bool    `json:"reached_end"`
	StoppedBy  string  `json:"stopped_by"` // "end", "depth", "budget", or an error
	Seconds    float64 `json:"seconds"`
}

// OpsResult is what the ops command prints.
type OpsResult struct {
	Scenario   string    `json:"scenario"`
	Endpoint   string    `json:"endpoint"`
	MaxResults int       `json:"max_results"`
	Retained   *int64    `json:"retained,omitempty"` // operations in the list, when the walk or the deep pages reached its end
	Walk       OpsWalk   `json:"walk"`
	Kinds      []OpsKind `json:"kinds"`
	Seconds    float64   `json:"seconds"`
	StoppedBy  string    `json:"stopped_by"` // "done", or "duration" when -duration cut it short
}

func (r *OpsResult) writeText(w io.Writer) {
	retained := "not counted (the end of the list was not reached)"
	if r.Retained != nil {
		retained = fmt.Sprint(*r.Retained)
	}
	fmt.Fprintf(w, "ops %s: MaxResults %d, operations retained: %s; walk %d pages, %d operations in %.1fs, stopped by %s; all in %.1fs (%s)\n",
		r.Endpoint, r.MaxResults, retained, r.Walk.Pages, r.Walk.Operations, r.Walk.Seconds, r.Walk.StoppedBy, r.Seconds, r.StoppedBy)
	for _, k := range r.Kinds {
		fmt.Fprintf(w, "  %-8s %3d pages of %d-%d ops from depth %d: ms p50 %.1f p90 %.1f max %.1f  (%s)",
			k.Kind, k.Pages, k.MinItems, k.MaxItems, k.StartDepth, k.P50, k.P90, k.Max, k.What)
		if k.Matching != nil {
			fmt.Fprintf(w, " [%d match]", *k.Matching)
		}
		if k.Error != "" {
			fmt.Fprintf(w, " stopped: %s", k.Error)
		}
		fmt.Fprintln(w)
	}
}

// opsConfig is what the ops command measures.
type opsConfig struct {
	Pages      int           // pages timed of each kind
	MaxResults int           // per page
	DeepDepth  int64         // walk this many operations in before the deep pages; 0: to the end
	WalkBudget time.Duration // bound on that walk
	ServiceID  string        // for the SERVICE_ID filter; "" skips that kind
}

// measureOps times ListOperations pages. Only ctx bounds the whole; each
// kind is bounded by its page count and the walk by cfg.WalkBudget.
func measureOps(ctx context.Context, c *client, cfg opsConfig) (*OpsResult, error) {
	if cfg.Pages < 1 || cfg.MaxResults < 1 {
		return nil, errors.New("ops: want -pages >= 1 and -max-results >= 1")
	}
	start := time.Now()
	o := &opsLister{c: c, maxResults: cfg.MaxResults}
	res := &OpsResult{Scenario: "ops", Endpoint: c.endpoint, MaxResults: cfg.MaxResults}

	// The first page, K times (after one not timed): it is what a console
	// or a CLI call shows.
	if _, err := o.page(ctx, nil, ""); err != nil {
		return nil, fmt.Errorf("ops: first page: %w", err)
	}
	first := newKind("first", "the first page, no filter, asked again each time")
	var err error
	for range cfg.Pages {
		var p opsPage
		if p, err = o.page(ctx, nil, ""); err != nil {
			break
		}
		first.add(p)
	}
	res.Kinds = append(res.Kinds, first.done(err))

	// The walk: follow NextToken from the start. Its first K pages are the
	// "follow" kind. tokens[i] asks for page i; depths[i] is the number of
	// operations before it.
	follow := newKind("follow", "the pages after the first, following NextToken from the start")
	walk := newKind("walk", "every page of the walk from the start toward the deep pages")
	tokens, depths := []string{""}, []int64{0}
	walkStart := time.Now()
	res.Walk.StoppedBy = "budget"
	for time.Since(walkStart) < cfg.WalkBudget {
		i := len(tokens) - 1
		if cfg.DeepDepth > 0 && depths[i] >= cfg.DeepDepth {
			res.Walk.StoppedBy = "depth"
			break
		}
		p, err := o.page(ctx, nil, tokens[i])
		if err != nil {
			res.Walk.StoppedBy = err.Error()
			break
		}
		walk.add(p)
		if i == 1 {
			follow.k.StartDepth = depths[1]
		}
		if i >= 1 && i <= cfg.Pages {
			follow.add(p)
		}
		if p.next == "" {
			res.Walk.ReachedEnd = true
			res.Walk.StoppedBy = "end"
			n := depths[i] + int64(p.items)
			res.Retained = &n
			res.Walk.Operations = n
			break
		}
		tokens, depths = append(tokens, p.next), append(depths, depths[i]+int64(p.items))
		res.Walk.Operations = depths[i+1]
	}
	res.Walk.Pages = walk.k.Pages
	res.Walk.Seconds = time.Since(walkStart).Seconds()
	res.Kinds = append(res.Kinds, follow.done(nil), walk.done(nil))

	// The deep pages: K pages from where the walk stopped, or the last K
	// pages when it reached the end.
	at := len(tokens) - 1
	if res.Walk.ReachedEnd {
		at = max(len(tokens)-cfg.Pages, 0)
	}
	deep := newKind("deep", "pages deep in the list, following NextToken from where the walk stopped")
	deep.k.StartDepth = depths[at]
	token, depth := tokens[at], depths[at]
	err = nil
	for deep.k.Pages < cfg.Pages {
		var p opsPage
		if p, err = o.page(ctx, nil, token); err != nil {
			break
		}
		deep.add(p)
		depth += int64(p.items)
		if token = p.next; token == "" {
			if res.Retained == nil { // the walk ran out of budget close to the end
				n := depth
				res.Retained = &n
			}
			token, depth = tokens[at], depths[at] // the end: time the same pages again
		}
	}
	res.Kinds = append(res.Kinds, deep.done(err))

	// Filtered lists.
	if cfg.ServiceID != "" {
		res.Kinds = append(res.Kinds, filteredKind(ctx, o, cfg.Pages, "service",
			"Filters SERVICE_ID = one service, its pages in turn",
			[]filter{{Name: "SERVICE_ID", Values: []string{cfg.ServiceID}, Condition: "EQ"}}))
	}
	res.Kinds = append(res.Kinds, filteredKind(ctx, o, cfg.Pages, "type",
		"Filters TYPE = DEREGISTER_INSTANCE (only churn makes them, so they sit after every registration of the populate)",
		[]filter{{Name: "TYPE", Values: []string{"DEREGISTER_INSTANCE"}, Condition: "EQ"}}))
	res.Seconds = time.Since(start).Seconds()
	res.StoppedBy = "done"
	if ctx.Err() != nil {
		res.StoppedBy = "duration" // the kinds say where
	}
	return res, nil
}

// filteredKind times n pages of the list filters select, following
// NextToken and starting again at its end.
func filteredKind(ctx context.Context, o *opsLister, n int, kind, what string, filters []filter) OpsKind {
	t := newKind(kind, what)
	token, listed, whole := "", int64(0), false
	var err error
	for t.k.Pages < n {
		var p opsPage
		if p, err = o.page(ctx, filters, token); err != nil {
			break
		}
		t.add(p)
		listed += int64(p.items)
		if token = p.next; token == "" && !whole {
			whole = true
			t.k.Matching = &listed
		}
	}
	return t.done(err)
}

func runOps(parent context.Context, args []string) error {
	fs := flag.NewFlagSet("ops", flag.ExitOnError)
	var f clientFlags
	f.register(fs, "http://127.0.0.1:8080")
	var cfg opsConfig
	fs.IntVar(&cfg.Pages, "pages", 20, "pages timed of each kind")
	fs.IntVar(&cfg.MaxResults, "max-results", 100, "MaxResults of every page (100 is ListOperations' most)")
	fs.Int64Var(&cfg.DeepDepth, "deep-depth", 0, "walk this many operations in from the start before timing the deep pages (0: to the end, which counts the retained operations)")
	fs.DurationVar(&cfg.WalkBudget, "walk-budget", time.Minute, "bound on that walk; the deep pages start where it stopped")
	fs.StringVar(&cfg.ServiceID, "service-id", "", "service for the SERVICE_ID filter (default: look up -namespace/-service)")
	namespace := fs.String("namespace", "scale-0000", "namespace of the service for the SERVICE_ID filter")
	service := fs.String("service", "svc-00", "service for the SERVICE_ID filter (\"\": skip that kind)")
	duration := fs.Duration("duration", 15*time.Minute, "bound on the whole command")
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout (the text summary goes to stderr)")
	fs.Parse(args)
	c, err := f.client(1)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(parent, *duration)
	defer cancel()
	if cfg.ServiceID == "" && *service != "" {
		if cfg.ServiceID, err = resolveService(ctx, c, *namespace, *service); err != nil {
			return err
		}
	}
	res, err := measureOps(ctx, c, cfg)
	if err != nil {
		return err
	}
	return printResult(res, *asJSON, res.writeText)
}
