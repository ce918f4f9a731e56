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
		var k redirectKey
		var v redirectValue
		n := 0
		for it := m.Iterate(); it.Next(&k, &v); n++ {
			if v.Tag == tagOf(id) {
				t.Errorf("entry left: %+v", k)
			}
		}
		if n == 0 {
			t.Error("an empty map is still attached")
		}
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }
