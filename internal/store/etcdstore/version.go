package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mapmesh/mapmesh/internal/store"
)

// minPatch is, for each etcd 3.x minor version, the first release whose
// watch progress notifications WithProgress can rely on:
//
//   - 3.4.25 / 3.5.8 fixed requested progress notifications that were not
//     synchronised with the watch stream and could announce a revision
//     before its events (etcd-io/etcd#15220, fixed by #15237). A follower
//     then believes it has caught up while a change is still to come.
//   - 3.4.31 / 3.5.13 fixed a progress request that was never answered when
//     a new watch got no events (etcd-io/etcd#17507, #17557): a follower
//     waits until its bound and fails.
//
// 3.6.0 has both. Later fixes (watches on a future revision getting old
// events or notifications, etcd-io/etcd#20221, fixed in 3.4.38, 3.5.22 and
// 3.6.2) are covered by the watch itself: it drops any event or progress
// at or below what it has delivered.
var minPatch = map[int]int{4: 31, 5: 13, 6: 0}

// ErrServerVersion is returned by CheckVersion for an etcd release whose
// watch progress notifications are unreliable.
var ErrServerVersion = errors.New("etcdstore: etcd release with unreliable watch progress notifications")

// CheckVersion asks every endpoint it reaches for its etcd version, and
// fails with an error wrapping ErrServerVersion if one is older than 3.4.31,
// 3.5.13 or 3.6.0 (see minPatch), or with store.ErrUnavailable if it reaches
// none. New does not call it, since it does not wait for etcd; a server
// should call it before it relies on WithProgress watches.
func (s *Store) CheckVersion(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	reached := 0
	var lastErr error
	for _, ep := range s.cli.Endpoints() {
		rctx, done := s.reqCtx(ctx)
		st, err := s.cli.Status(rctx, ep)
		done()
		if err != nil {
			lastErr = s.err(ctx, "status of "+ep, err)
			if ctx.Err() != nil || s.closed.Load() {
				return lastErr
			}
			continue
		}
		reached++
		if !versionOK(st.Version) {
			return fmt.Errorf("etcdstore: %s runs etcd %s; want 3.4.31+, 3.5.13+ or 3.6+: %w", ep, st.Version, ErrServerVersion)
		}
	}
	if reached == 0 {
		if lastErr == nil {
			lastErr = fmt.Errorf("etcdstore: no endpoint: %w", store.ErrUnavailable)
		}
		return lastErr
	}
	return nil
}

// versionOK reports whether an etcd version string ("3.6.16",
// "3.5.0-alpha.0") is recent enough (see minPatch).
func versionOK(v string) bool {
	core, _, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) < 3 {
		return false
	}
	var nums [3]int
	for i := range nums {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return false
		}
		nums[i] = n
	}
	major, minor, patch := nums[0], nums[1], nums[2]
	if major > 3 || (major == 3 && minor > 6) {
		return true
	}
	min, ok := minPatch[minor]
	return major == 3 && ok && patch >= min
}
