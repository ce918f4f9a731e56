package net

import (
	"errors"
	stdnet "net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// TestRedirect attaches the connect(2) redirect for real and checks,
// on loopback only, that a published address and a port published on
// every address are redirected, that others are not, and that deleting
// the entries leaves no redirect behind.
func TestRedirect(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF")
	}
	l, err := stdnet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	target := l.Addr().(*stdnet.TCPAddr)
	free := func() uint16 { // a port nothing listens on
		l, err := stdnet.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return uint16(l.Addr().(*stdnet.TCPAddr).Port)
	}
	exact, wild, udp := free(), free(), free()
	const id = "00feedfacecafe0011223344556677889900aabbccddeeff0011223344556677"
	ports := []Port{
		{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: exact, ContainerPort: uint16(target.Port), Proto: "tcp"},
		{HostPort: wild, ContainerPort: uint16(target.Port), Proto: "tcp"},
		{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: udp, ContainerPort: uint16(target.Port), Proto: "udp"},
	}
	if err := addRedirects(id, netip.MustParseAddr("127.0.0.1"), ports); err != nil {
		t.Fatal(err)
	}
	defer deleteRedirects(id)
	dial := func(addr string) error {
		c, err := stdnet.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, addr := range []string{
		stdnet.JoinHostPort("127.0.0.1", itoa(exact)),
		stdnet.JoinHostPort("127.0.0.1", itoa(wild)),
		stdnet.JoinHostPort("127.0.0.2", itoa(wild)), // every loopback address
	} {
		c, err := stdnet.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Errorf("dial %s: %v; want it redirected to %s", addr, err, target)
			continue
		}
		// Go reads the peer with getpeername: the address dialled
		if c.RemoteAddr().String() != addr {
			t.Errorf("dial %s: the socket's peer is %s", addr, c.RemoteAddr())
		}
		c.Close()
	}
	for _, addr := range []string{
		stdnet.JoinHostPort("127.0.0.2", itoa(exact)), // published on 127.0.0.1 only
		stdnet.JoinHostPort("127.0.0.1", itoa(udp)),   // a UDP port is not a TCP one
	} {
		if err := dial(addr); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s: %v; want refused", addr, err)
		}
	}
	if err := deleteRedirects(id); err != nil {
		t.Fatal(err)
	}
	if err := dial(stdnet.JoinHostPort("127.0.0.1", itoa(exact))); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("after delete: dial %v; want refused", err)
	}
	lock, cg, err := lockRedirects()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	defer cg.Close()
	m, err := attachedMap(cg)
	if err != nil {
		t.Fatal(err)
	}
	if m != nil { // other tests' containers may still publish ports
		defer m.Close()
		keys, values := entries(m)
		for i, v := range values {
			if v.Tag == tagOf(id) {
				t.Errorf("entry left: %+v", keys[i])
			}
		}
		if len(keys) == 0 {
			t.Error("an empty map is still attached")
		}
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

// TestRedirectUpgrade attaches connect4 alone, as the tug before the
// getpeername program did, with an entry, and publishes a port: the
// pair must be attached, with the old entry kept.
func TestRedirectUpgrade(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF")
	}
	lock, cg, err := lockRedirects()
	if err != nil {
		t.Fatal(err)
	}
	m, err := attachedMap(cg)
	if m != nil {
		m.Close()
		lock.Unlock()
		cg.Close()
		t.Skip("a redirect is attached already (containers publish ports)")
	}
	old, err := ebpf.NewMap(&ebpf.MapSpec{Name: redirectMap, Type: ebpf.Hash, KeySize: 8, ValueSize: 16, MaxEntries: 4096})
	if err != nil {
		t.Fatal(err)
	}
	cookie, _ := netnsCookie()
	insns := redirectInstructions(old.FD(), -1, cookie)
	// the old program had no socket storage: drop that part
	err = attachProgram(cg, redirectProg, ebpf.AttachCGroupInet4Connect, oldConnect(insns))
	const oldID = "11aa0000000000000000000000000000000000000000000000000000000000ff"
	k, v := redirectKey{}, redirectValue{Tag: tagOf(oldID)}
	k.IP, k.Port = sockAddr(netip.MustParseAddr("127.0.0.1"), 1)
	v.IP, v.Port = sockAddr(netip.MustParseAddr("127.0.0.1"), 2)
	old.Put(k, v)
	old.Close()
	lock.Unlock()
	cg.Close()
	if err != nil {
		t.Fatal(err)
	}
	const id = "22bb0000000000000000000000000000000000000000000000000000000000ee"
	defer deleteRedirects(oldID)
	defer deleteRedirects(id)
	if err := addRedirects(id, netip.MustParseAddr("127.0.0.1"), []Port{{HostPort: 3, ContainerPort: 4, Proto: "tcp"}}); err != nil {
		t.Fatal(err)
	}
	lock, cg, err = lockRedirects()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	defer cg.Close()
	if !complete(cg) {
		t.Error("getpeername program not attached after the upgrade")
	}
	m, err = attachedMap(cg)
	if m == nil || err != nil {
		t.Fatalf("no map after the upgrade: %v", err)
	}
	defer m.Close()
	tags := map[uint64]bool{}
	_, values := entries(m)
	for _, v := range values {
		tags[v.Tag] = true
	}
	if !tags[tagOf(oldID)] || !tags[tagOf(id)] {
		t.Errorf("entries after the upgrade: %v, want the old one and the new one", values)
	}
}

// oldConnect is the connect4 program without the socket storage part.
func oldConnect(insns asm.Instructions) asm.Instructions {
	var out asm.Instructions
	skip := false
	for _, ins := range insns {
		if sym := ins.Symbol(); sym == "found" {
			skip = true
			out = append(out, asm.Mov.Reg(asm.R8, asm.R0).WithSymbol("found"))
			continue
		} else if sym == "rewrite" {
			skip = false
		}
		if !skip {
			out = append(out, ins)
		}
	}
	return out
}
