// Package healthcheck runs the Route 53-style health checks of Cloud Map
// services that have a HealthCheckConfig: it probes every instance's
// AWS_INSTANCE_IPV4 (or AWS_INSTANCE_IPV6) at AWS_INSTANCE_PORT over HTTP,
// HTTPS or TCP, counts FailureThreshold consecutive results to flip the
// instance between HEALTHY and UNHEALTHY, and records each flip through
// cloudmap.Backend.SetHealth, so every projection (the API, DNS) sees it.
// It never touches the store itself.
//
// What is checked comes from the Backend's read model: the Checker
// subscribes to its changes and, for every service that changed, compares
// the service and its instances with the checks it runs. A new instance
// (or a service that gains a HealthCheckConfig) starts a check; an instance
// re-registered with different attributes restarts it (a new Revision with
// other attributes); a deregistered instance, a deleted service or a
// removed HealthCheckConfig stops it; a changed FailureThreshold or
// ResourcePath applies from the next result or probe. Services with custom
// health (HealthCheckCustomConfig) are never probed.
//
// A new check starts HEALTHY, as a new Route 53 health check does ("healthy
// until there is enough data"), and probes within a second; when the
// Checker starts, it takes over the statuses already recorded and spreads
// the first probes over one interval.
//
// Scheduling: each check runs on a fixed-rate series of slots, one interval
// apart, with a random phase, so probes stay evenly spread and do not
// drift. A check has at most one probe in flight: a probe that outlasts its
// interval makes the check skip the slots it overran instead of queueing
// them. Probes are dispatched in due order from two lanes, each with its own
// bound on concurrent probes: targets whose last probe answered in time and
// targets whose last probe was slow (took at least half its timeout, which
// includes timing out). Black-holed targets therefore only compete with
// each other for probe slots and never delay the probes of targets that
// answer.
//
// Every goroutine belongs to the Checker: Start starts them, Close stops
// them and waits for them.
package healthcheck
