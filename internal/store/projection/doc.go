// Package projection keeps in-memory projections of a store.Store current
// and is the one path by which the domains (cloudmap, appmesh) read and
// change their state.
//
// A Follower loads a key prefix, follows the store's watch from the next
// revision (with progress events, so it learns when the store has passed a
// revision even when nothing under its prefix changed), loads again when
// the watch falls behind the store's history, and lets callers wait until
// the projection reflects a revision — always bounded, by the caller's
// context and by a limit, after which the wait fails with ErrBehind (or
// ErrStopped when the follower stopped), both wrapping
// store.ErrUnavailable.
//
// A View is the skeleton both domains share: partitions keyed by account
// and region, folded by the domain's Apply under one lock, subscribers told
// of each applied batch, reads that first wait for this process's own
// writes (read-your-writes), and the commit loop (Update: wait, decide,
// commit, retry on conflict with a fresher view). A write is answered once
// it is durable, before the projection has applied it; the next read or
// decision waits for it.
package projection
