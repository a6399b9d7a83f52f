package console

import (
	"testing"

	"github.com/mapmesh/mapmesh/internal/xds"
)

// fakeXDS is the xDS server's list of clients.
type fakeXDS []xds.Client

func (f fakeXDS) Clients() []xds.Client { return f }

// TestXDSClients: the clients with their versions sent and ACKed and last
// NACK; a verified caller sees only those serving its account; without
// xDS the list is empty and says so.
func TestXDSClients(t *testing.T) {
	clients := fakeXDS{
		{Stream: 1, NodeID: "mesh/shop/virtualNode/web-v1", Key: accountOne + "/us-east-1/mesh/shop/virtualNode/web-v1",
			Resources: map[string]xds.ResourceStatus{
				"clusters":  {Sent: "12", Acked: "12"},
				"listeners": {Sent: "12", Acked: "11", LastNACK: &xds.NACK{Version: "12", Message: "bad listener"}, NACKs: 1}}},
		{Stream: 2, NodeID: "arn:aws:appmesh:us-east-1:" + accountTwo + ":mesh/pay/virtualNode/api", Key: accountTwo + "/us-east-1/mesh/pay/virtualNode/api"},
		{Stream: 3, NodeID: "stranger", Key: "unknown"},
	}
	type body struct {
		Enabled bool
		Clients []xds.Client
	}
	ids := func(b body) (out []string) {
		for _, c := range b.Clients {
			out = append(out, c.NodeID)
		}
		return out
	}

	var got body
	newEnv(t, false, Config{XDS: clients}).getJSON(anonymous, "/console/api/xds/clients", &got)
	if !got.Enabled || len(got.Clients) != 3 {
		t.Errorf("xDS clients without auth = %v %v; want all 3", got.Enabled, ids(got))
	}
	if l := got.Clients[0].Resources["listeners"]; l.Sent != "12" || l.Acked != "11" || l.LastNACK == nil || l.LastNACK.Message != "bad listener" {
		t.Errorf("listeners of %s = %+v; want sent 12, ACKed 11, NACK bad listener", got.Clients[0].NodeID, l)
	}

	got = body{}
	newEnv(t, true, Config{XDS: clients}).getJSON(one, "/console/api/xds/clients", &got)
	if !got.Enabled || len(got.Clients) != 1 || got.Clients[0].Stream != 1 {
		t.Errorf("xDS clients as %s = %v; want only web-v1 (account %s)", keyOne, ids(got), accountOne)
	}

	got = body{}
	newEnv(t, false, Config{}).getJSON(anonymous, "/console/api/xds/clients", &got)
	if got.Enabled || got.Clients == nil || len(got.Clients) != 0 {
		t.Errorf("xDS clients with xDS off = %+v; want disabled, an empty list", got)
	}
}
