package k8simport

import (
	"encoding/json"
	"fmt"
	"slices"
)

// labelSelector is a Kubernetes metav1.LabelSelector.
type labelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels"`
	MatchExpressions []struct {
		Key      string   `json:"key"`
		Operator string   `json:"operator"`
		Values   []string `json:"values"`
	} `json:"matchExpressions"`
}

// parseSelector decodes a selector; a missing one (raw nil) is nil.
func parseSelector(raw any, path string) (*labelSelector, error) {
	if raw == nil {
		return nil, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var s labelSelector
	if err := strictUnmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	for _, e := range s.MatchExpressions {
		switch e.Operator {
		case "In", "NotIn":
			if len(e.Values) == 0 {
				return nil, fmt.Errorf("%s: operator %s needs values", path, e.Operator)
			}
		case "Exists", "DoesNotExist":
			if len(e.Values) > 0 {
				return nil, fmt.Errorf("%s: operator %s takes no values", path, e.Operator)
			}
		default:
			return nil, fmt.Errorf("%s: unknown operator %q", path, e.Operator)
		}
	}
	return &s, nil
}

// matches reports whether s selects labels, as metav1.LabelSelectorAsSelector
// does: every matchLabels pair and every expression must hold, so an empty
// selector selects everything. A nil selector selects nothing when
// nilMatchesAll is false (a Mesh's or VirtualGateway's namespaceSelector)
// and everything when it is true (a VirtualGateway's gatewayRouteSelector).
func (s *labelSelector) matches(labels map[string]string, nilMatchesAll bool) bool {
	if s == nil {
		return nilMatchesAll
	}
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, e := range s.MatchExpressions {
		v, ok := labels[e.Key]
		switch e.Operator {
		case "In":
			if !ok || !slices.Contains(e.Values, v) {
				return false
			}
		case "NotIn":
			if ok && slices.Contains(e.Values, v) {
				return false
			}
		case "Exists":
			if !ok {
				return false
			}
		case "DoesNotExist":
			if ok {
				return false
			}
		}
	}
	return true
}
