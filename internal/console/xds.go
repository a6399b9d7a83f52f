package console

import (
	"net/http"
	"strings"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/xds"
)

// xdsClients serves GET /console/api/xds/clients: the connected xDS
// clients, each with the version of every resource type sent and ACKed,
// and its last NACK. A verified caller sees only the clients serving a
// resource of its own account (their snapshot key starts with it);
// clients whose node id names no App Mesh resource belong to no account
// and are shown only without authentication.
func (c *Console) xdsClients(w http.ResponseWriter, r *http.Request) {
	caller, _ := awsapi.CallerFrom(r.Context())
	body := struct {
		Enabled bool         `json:"enabled"`
		Clients []xds.Client `json:"clients"`
	}{Clients: []xds.Client{}}
	if c.xds != nil {
		body.Enabled = true
		for _, cl := range c.xds.Clients() {
			if caller.Verified && !strings.HasPrefix(cl.Key, caller.Account+"/") {
				continue
			}
			body.Clients = append(body.Clients, cl)
		}
	}
	writeJSON(w, http.StatusOK, body)
}
