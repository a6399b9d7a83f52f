package cloudmap

import (
	"net/netip"
	"strconv"
	"strings"
)

// Cross-field rules the model cannot express. The model's own constraints
// (required, length, pattern, enum, range) are checked by the generated
// Validate methods before a request reaches the Backend.

// Reserved instance attributes.
const (
	attrAliasDNSName     = "AWS_ALIAS_DNS_NAME"
	attrEC2InstanceID    = "AWS_EC2_INSTANCE_ID"
	attrInitHealthStatus = "AWS_INIT_HEALTH_STATUS"
	attrInstanceCNAME    = "AWS_INSTANCE_CNAME"
	attrInstanceIPv4     = "AWS_INSTANCE_IPV4"
	attrInstanceIPv6     = "AWS_INSTANCE_IPV6"
	attrInstancePort     = "AWS_INSTANCE_PORT"
)

var reservedAttrs = map[string]bool{
	attrAliasDNSName: true, attrEC2InstanceID: true, attrInitHealthStatus: true, attrInstanceCNAME: true,
	attrInstanceIPv4: true, attrInstanceIPv6: true, attrInstancePort: true,
}

// Limits on custom attributes (not adjustable on AWS).
const (
	maxCustomAttributes = 30
	maxAttributesSize   = 5000
)

// checkInstanceAttributes applies RegisterInstance's attribute rules for
// service s in namespace ns.
func checkInstanceAttributes(s *svcRecord, ns *namespace, instID string, attrs map[string]string) error {
	custom, size := 0, 0
	for k, v := range attrs {
		size += len(k) + len(v)
		if !reservedAttrs[k] {
			custom++
		}
	}
	if custom > maxCustomAttributes {
		return invalidInput("An instance can have at most %d custom attributes; got %d", maxCustomAttributes, custom)
	}
	if size > maxAttributesSize {
		return invalidInput("The total size of all attributes (keys and values) must not exceed %d characters; got %d", maxAttributesSize, size)
	}
	has := func(k string) bool { _, ok := attrs[k]; return ok }

	if v, ok := attrs[attrInitHealthStatus]; ok && v != healthHealthy && v != healthUnhealthy {
		return invalidInput("%s must be HEALTHY or UNHEALTHY; got %q", attrInitHealthStatus, v)
	}
	if v, ok := attrs[attrInstanceIPv4]; ok {
		if a, err := netip.ParseAddr(v); err != nil || !a.Is4() {
			return invalidInput("%s must be an IPv4 address; got %q", attrInstanceIPv4, v)
		}
	}
	if v, ok := attrs[attrInstanceIPv6]; ok {
		if a, err := netip.ParseAddr(v); err != nil || !a.Is6() || a.Is4In6() {
			return invalidInput("%s must be an IPv6 address; got %q", attrInstanceIPv6, v)
		}
	}
	if v, ok := attrs[attrInstancePort]; ok {
		if p, err := strconv.Atoi(v); err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != v {
			return invalidInput("%s must be a port number from 1 to 65535; got %q", attrInstancePort, v)
		}
	}
	for _, k := range []string{attrInstanceCNAME, attrAliasDNSName} {
		if v, ok := attrs[k]; ok && !isDomainName(v) {
			return invalidInput("%s must be a domain name; got %q", k, v)
		}
	}

	if has(attrEC2InstanceID) {
		if ns.isDNS() {
			return invalidInput("%s is supported only in HTTP namespaces", attrEC2InstanceID)
		}
		for k := range attrs {
			if k != attrEC2InstanceID && k != attrInitHealthStatus {
				return invalidInput("When %s is specified, the only other attribute allowed is %s", attrEC2InstanceID, attrInitHealthStatus)
			}
		}
		return nil
	}

	if has(attrAliasDNSName) {
		if !s.hasRecord("A") && !s.hasRecord("AAAA") {
			return invalidInput("%s requires a service with an A or AAAA record", attrAliasDNSName)
		}
		if s.RoutingPolicy != routingWeighted {
			return invalidInput("%s requires a service with the WEIGHTED routing policy", attrAliasDNSName)
		}
		for k := range attrs {
			if strings.HasPrefix(k, "AWS_INSTANCE_") {
				return invalidInput("When %s is specified, the AWS_INSTANCE attributes must not be (got %s)", attrAliasDNSName, k)
			}
		}
		return nil
	}

	if s.hasRecord("A") && !has(attrInstanceIPv4) {
		return invalidInput("%s is required because service %s has an A record", attrInstanceIPv4, s.ID)
	}
	if s.hasRecord("AAAA") && !has(attrInstanceIPv6) {
		return invalidInput("%s is required because service %s has an AAAA record", attrInstanceIPv6, s.ID)
	}
	if s.hasRecord("CNAME") && !has(attrInstanceCNAME) {
		return invalidInput("%s is required because service %s has a CNAME record", attrInstanceCNAME, s.ID)
	}
	if s.hasRecord("SRV") {
		if !has(attrInstancePort) {
			return invalidInput("%s is required because service %s has an SRV record", attrInstancePort, s.ID)
		}
		if !has(attrInstanceIPv4) && !has(attrInstanceIPv6) {
			return invalidInput("%s or %s is required because service %s has an SRV record", attrInstanceIPv4, attrInstanceIPv6, s.ID)
		}
		if !isDNSLabels(instID) {
			return invalidInput("InstanceId %q can't be used in an SRV record name; use letters, digits, hyphens and underscores", instID)
		}
	}
	if s.HealthCheck != nil && !has(attrInstancePort) {
		return invalidInput("%s is required because service %s has a health check", attrInstancePort, s.ID)
	}
	return nil
}

// isDomainName reports whether s is a syntactically valid DNS name
// (labels of 1 to 63 characters, 253 in all, an optional final dot).
func isDomainName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	return len(s) <= 253 && validLabels(s, "*")
}

// isDNSLabels reports whether an instance ID can prefix an SRV target name
// (<instanceId>.<service>.<namespace>).
func isDNSLabels(s string) bool { return validLabels(s, "") }

// validLabels reports whether s is dot-separated labels of 1 to 63 letters,
// digits, hyphens, underscores and the characters in extra.
func validLabels(s, extra string) bool {
	for _, l := range strings.Split(s, ".") {
		if len(l) == 0 || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || strings.IndexByte(extra, c) >= 0) {
				return false
			}
		}
	}
	return true
}
