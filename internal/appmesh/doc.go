// Package appmesh implements AWS App Mesh ("appmesh" on the wire, rest-json)
// in both API versions, over one domain model: meshes, virtual nodes,
// virtual routers, routes, virtual services, virtual gateways, gateway
// routes and tags.
//
// The domain model is the 2019-01-25 (GA) API: its generated shapes
// (zz_shapes_2019.go) are the specs the store holds. The 2018-10-01 API
// (zz_shapes_2018.go, types with the suffix 2018) is a view of the same
// resources, translated in v2018.go: a 2018 virtual router's serviceNames
// are the virtual services it provides (made "implicit" when they did not
// exist), a 2018 virtual node's string backends are virtual-service
// backends. api.go has the two operation tables; the routes, validation and
// error statuses are generated from the botocore models.
//
// State lives under /appmesh/<account>/<region>/ (keys.go). The Backend
// answers every read from an in-memory view fed by the store's watch
// (view.go), and makes every write one store transaction with
// compare-and-swap conditions on what it read. Invariants: every write in a
// mesh conditions on and moves the mesh's rev marker, so decisions that
// depend on the whole mesh (references, quotas, emptiness) are never
// invalidated by a write they did not see; nothing is half-applied (a 2018
// router and its implicit services, a delete and the implicit services it
// removes, a write and the idempotency record that answers its retries,
// commit together); a resource's uid is new on every create and its version
// rises by one on every update. export.go is the read model for
// projections (the xDS control plane). docs/appmesh.md lists every
// behaviour choice.
//
//go:generate go run ../awsgen -model ../awsgen/models/appmesh-2019-01-25.json -package appmesh -rename Backend=VirtualNodeBackend -out zz_shapes_2019.go
//go:generate go run ../awsgen -model ../awsgen/models/appmesh-2018-10-01.json -package appmesh -suffix 2018 -rename Backend=VirtualNodeBackend -out zz_shapes_2018.go
package appmesh
