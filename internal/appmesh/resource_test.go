package appmesh

import (
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	long := strings.Repeat("x", maxNameLen)
	tests := []struct {
		k  rkey
		ok bool
	}{
		{meshKey("m"), true},
		{meshKey("my-mesh_1"), true},
		{meshKey(long), true},
		{vnKey("m", "colorteller-white_default"), true},
		{vsKey("m", "web.shop.local"), true},
		{vsKey("m", "color.howto-k8s.svc.cluster.local"), true},
		{vsKey("m", long), true},
		{routeKey("m", "vr", "r"), true},
		{grKey("m", "gw", "gr"), true},

		{meshKey(""), false},
		{meshKey(long + "x"), false},
		{vsKey("m", strings.Repeat("x", 40<<10)), false},
		{vsKey("m", ""), false},
		{meshKey("a/virtualNode/b"), false},
		{vnKey("m", "a/b"), false},
		{vrKey("m", "a/b"), false},
		{routeKey("m", "vr", "a/b"), false},
		{vsKey("m", "web/shop.local"), false},
		{vgKey("m", "a/b"), false},
		{grKey("m", "gw", "a/b"), false},
		{vnKey("m", "web.v1"), false},
		{vnKey("m", "v n"), false},
		{vnKey("m", "a:b"), false},
		{vnKey("m", "é"), false},
		{vsKey("m", "*.shop.local"), false},
		{vsKey("m", "web shop"), false},
	}
	for _, tc := range tests {
		want := codeBadRequest
		if tc.ok {
			want = ""
		}
		if got := code(checkName(tc.k)); got != want {
			t.Errorf("checkName(%s %.40q) = %q; want %q", tc.k.kind, tc.k.name, got, want)
		}
	}
}
