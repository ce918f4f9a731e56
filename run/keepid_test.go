package run

import (
	"archive/tar"
	"testing"

	"tug/internal/userns"
)

// TestKeepIDMap: the nested namespace permutes tug's IDs so that the
// user's host ID (tug's 0) is the same inside, every one of tug's IDs
// stays mapped once, and fuse-overlayfs gets the same map.
func TestKeepIDMap(t *testing.T) {
	for _, tc := range []struct {
		id, count uint32
		want      string
	}{
		{1000, 65537, "1000:0:1:0:1:1000:1001:1001:64536"},
		{0, 65537, "0:0:1:1:1:65536"},
		{65536, 65537, "65536:0:1:0:1:65536"},
	} {
		m := keepIDMap(tc.id, tc.count)
		if got := fuseIDMapping(m); got != tc.want {
			t.Errorf("keepIDMap(%d, %d) = %s, want %s", tc.id, tc.count, got, tc.want)
		}
		seen := map[int]bool{}
		for inside := 0; inside < int(tc.count); inside++ {
			out := outsideID(m, inside)
			if seen[out] || out >= int(tc.count) || insideID(m, out) != inside {
				t.Fatalf("id %d: %d inside maps to %d outside, not a permutation", tc.id, inside, out)
			}
			seen[out] = true
		}
		if outsideID(m, int(tc.id)) != 0 {
			t.Errorf("id %d: the user is not tug's 0", tc.id)
		}
	}
}

// TestIDView: a nil view changes nothing; a keep-id one gives tar
// headers the container's owners and the container's root as tug's ID.
func TestIDView(t *testing.T) {
	var none *idView
	if none.header() != nil || none.root() != nil {
		t.Errorf("nil view translates")
	}
	v := &idView{uids: keepIDMap(1000, 65537), gids: keepIDMap(100, 65537)}
	if r := v.root(); r == nil || *r != [2]int{1, 1} {
		t.Errorf("root: %v, want tug's 1:1", r)
	}
	h := &tar.Header{Uid: 1, Gid: 0}
	v.header()(h)
	if h.Uid != 0 || h.Gid != 100 {
		t.Errorf("header owners %d:%d, want 0:100", h.Uid, h.Gid)
	}
	if insideID(v.uids, 0) != 1000 || insideID(v.gids, 0) != 100 || insideID(v.uids, 5000) != 5000 {
		t.Errorf("insideID wrong")
	}
	if got := idCount([]userns.Range{{Inside: 0, Outside: 1000, Count: 1}, {Inside: 1, Outside: 100000, Count: 65536}}); got != 65537 {
		t.Errorf("idCount = %d, want 65537", got)
	}
}
