package net

import (
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
