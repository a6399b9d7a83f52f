// Package metrics exports mapmesh's figures in the Prometheus text format
// (prometheus/client_golang): counters and histograms that the request
// paths feed as they go (API requests), and figures read
// from the components when Prometheus scrapes (DNS queries, xDS clients,
// the store's committer, projection lag), besides Go's runtime and the
// process. The server wires the components to it; nothing here imports
// them.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds mapmesh's metrics.
type Registry struct {
	reg         *prometheus.Registry
	apiRequests *prometheus.CounterVec
	apiLatency  *prometheus.HistogramVec
}

// latencyBuckets suit requests answered from memory (tens of µs) as well as
// writes that wait for an fsync (ms) and slow outliers.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New returns a Registry with the request metrics and Go's and the
// process's collectors.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mapmesh_api_requests_total",
		Help: "AWS API requests answered, by service (signing name), operation and error code (empty on success)."},
		[]string{"service", "operation", "code"})
	r.apiLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mapmesh_api_request_duration_seconds",
		Help: "Time to answer AWS API requests, by service, operation and error code.", Buckets: latencyBuckets},
		[]string{"service", "operation", "code"})
	r.reg.MustRegister(r.apiRequests, r.apiLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves the metrics (GET /metrics).
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// ObserveAPI counts one answered API request.
func (r *Registry) ObserveAPI(service, operation, code string, d time.Duration) {
	r.apiRequests.WithLabelValues(service, operation, code).Inc()
	r.apiLatency.WithLabelValues(service, operation, code).Observe(d.Seconds())
}

// Sample is one value of a metric read at scrape time, with its label
// values in the metric's label order.
type Sample struct {
	Value  float64
	Labels []string
}

// Func registers a metric whose samples read returns at each scrape: a
// counter (monotonic) or a gauge, with the given label names.
func (r *Registry) Func(name, help string, counter bool, labels []string, read func() []Sample) {
	r.reg.MustRegister(&funcCollector{desc: prometheus.NewDesc(name, help, labels, nil), counter: counter, read: read})
}

type funcCollector struct {
	desc    *prometheus.Desc
	counter bool
	read    func() []Sample
}

func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *funcCollector) Collect(ch chan<- prometheus.Metric) {
	typ := prometheus.GaugeValue
	if c.counter {
		typ = prometheus.CounterValue
	}
	for _, s := range c.read() {
		ch <- prometheus.MustNewConstMetric(c.desc, typ, s.Value, s.Labels...)
	}
}

// One returns a single unlabeled sample, for Func.
func One(v float64) []Sample { return []Sample{{Value: v}} }
