package xds_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/mapmesh/mapmesh/internal/xds"
)

// TestConfigHandlerRefuses: GET /_mapmesh/xds/config answers 400 for a
// node or type it cannot read and 503 without an xDS server.
// (internal/cli's proxy-config tests cover its answers.)
func TestConfigHandlerRefuses(t *testing.T) {
	_, xs := stack(t, nil)
	for _, tc := range []struct {
		s     *xds.Server
		query url.Values
		code  int
	}{
		{xs, url.Values{"node": {"mesh/m/virtualNode/n"}}, http.StatusOK},
		{xs, url.Values{"node": {"mesh/m/virtualNode/n"}, "type": {"clusters"}}, http.StatusOK},
		{xs, url.Values{"node": {"mesh/m/virtualNode/n"}, "type": {"secrets"}}, http.StatusBadRequest},
		{xs, url.Values{"node": {"mesh/m/virtualRouter/r"}}, http.StatusBadRequest},
		{xs, url.Values{}, http.StatusBadRequest},
		{nil, url.Values{"node": {"mesh/m/virtualNode/n"}}, http.StatusServiceUnavailable},
	} {
		rec := httptest.NewRecorder()
		xds.ConfigHandler(tc.s).ServeHTTP(rec, httptest.NewRequest("GET", "/_mapmesh/xds/config?"+tc.query.Encode(), nil))
		if rec.Code != tc.code {
			t.Errorf("GET /_mapmesh/xds/config?%s = %d %s; want %d", tc.query.Encode(), rec.Code, rec.Body, tc.code)
		}
	}
}
