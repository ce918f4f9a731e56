package net

import (
	stdnet "net"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// TestDeleteGoneLink: a link that the kernel removed between tug's
// lookup and its delete (a veth whose peer's namespace died) is not an
// error, and neither is one that is gone before the lookup.
func TestDeleteGoneLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	scratch, err := netns.New() // this thread only: the host's links stay untouched
	if err != nil {
		t.Fatal(err)
	}
	defer scratch.Close()
	defer netns.Set(host)
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "tugdel0"}, PeerName: "tugdel1"}); err != nil {
		t.Fatal(err)
	}
	link, err := netlink.LinkByName("tugdel0")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkDel(link); err != nil { // the kernel's removal
		t.Fatal(err)
	}
	if err := linkDel(link); err != nil {
		t.Errorf("delete of a link that went after its lookup: %v", err)
	}
	if err := deleteLink("tugdel0"); err != nil {
		t.Errorf("delete of a missing link: %v", err)
	}
}

// TestFixedMACs: a bridge's address follows from its name alone, and a
// veth's is random; both are unicast and locally administered, as
// addresses set at creation (which udev leaves alone) must be.
func TestFixedMACs(t *testing.T) {
	a, b := bridgeMAC("tug0"), bridgeMAC("tb0123456789")
	if a.String() != bridgeMAC("tug0").String() || a.String() == b.String() {
		t.Errorf("bridge MACs %s %s: want one per name, the same each time", a, b)
	}
	r1, err1 := randomMAC()
	r2, err2 := randomMAC()
	if err1 != nil || err2 != nil || r1.String() == r2.String() {
		t.Errorf("random MACs %s %s (%v %v)", r1, r2, err1, err2)
	}
	for _, mac := range []stdnet.HardwareAddr{a, b, r1, r2} {
		if len(mac) != 6 || mac[0]&1 != 0 || mac[0]&2 == 0 {
			t.Errorf("%s: want a unicast, locally administered address", mac)
		}
	}
}
