// Package cloudmap implements AWS Cloud Map ("servicediscovery" on the wire,
// API version 2017-03-14): namespaces, services, instances, operations,
// health, tags and discovery.
//
//go:generate go run ../awsgen -model ../awsgen/models/servicediscovery-2017-03-14.json -package cloudmap -out zz_shapes.go
package cloudmap
