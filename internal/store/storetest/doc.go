// Package storetest is the conformance suite and the benchmark set that every
// store.Store backend must pass.
//
// A backend's tests call Run and Bench with a function that opens a new store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openTestStore(t) })
//	}
//
// The suite checks only the contract written in package store: nothing about
// how a backend keeps its data. It makes no assumption about the revision a
// new store starts at, only that its key space is empty. Every subtest opens
// its own store and closes it when it ends; open need only release what the
// store leaves behind (t.TempDir does that for files). Subtests run one after
// the other, never in parallel.
//
// What is left to each backend's own tests: its limits and history bounds
// (the suite only replays a few recent revisions, and only checks that
// transactions of 100,000 ops or 32 MiB are refused), slow watchers,
// restarts, and durability across a crash.
package storetest
