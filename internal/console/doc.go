// Package console serves mapmesh's web console on the API port: the static
// assets of package web at /console/, and a read-only JSON API under
// /console/api/ that the assets call.
//
// Every answer comes from the in-memory read models (the Cloud Map and App
// Mesh views, and the xDS server's list of clients), never from the store:
//
//	GET /console/api/accounts                    the accounts and regions the caller may see
//	GET /console/api/namespaces                  Cloud Map namespaces of ?account=&region=
//	GET /console/api/namespaces/{id}             a namespace and its services, with instance counts
//	GET /console/api/services/{id}               a service and its instances, with health
//	GET /console/api/operations                  operations, newest first (?before=ID&limit=N)
//	GET /console/api/meshes                      App Mesh meshes
//	GET /console/api/meshes/{name}               a mesh and every resource in it, with specs
//	GET /console/api/meshes/{name}/graph         virtual services -> routers -> routes -> nodes
//	                                             -> Cloud Map services -> endpoints
//	GET /console/api/xds/clients                 connected xDS clients, versions sent and ACKed
//	GET /console/api/events                      server-sent events: what changed
//
// The API routes are registered with awsapi.Mux.HandleSigned. Without
// authentication (--auth none) every account and region is shown, and
// ?account= and ?region= choose one (default: the caller's). With --auth
// sigv4 every request must be signed (the assets sign in the browser; an
// EventSource uses a presigned URL), and the caller sees only its own
// account, in any region; asking for another account is refused.
//
// The events stream sends "changed" events naming the Cloud Map and App
// Mesh resources a batch of changes touched (account, region and ids, or
// reload when anything may have changed); the browser re-fetches what it
// shows. Changes are coalesced to at most one event per Config.Coalesce.
// Each stream is served by its request's goroutine from a bounded queue: a
// client that does not keep up is dropped (its EventSource reconnects and
// reads everything again); the views' goroutines never wait for a client.
package console
