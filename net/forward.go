package net

import (
	"errors"
	"fmt"
	"io"
	stdnet "net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// forwarder publishes a rootless container's ports: it listens on the
// host, in the keeper (the monitor, or a foreground tug), and for each
// client opens a socket inside the container's network namespace to the
// container port. The keeper cannot return to the host's namespace once
// it has entered the container's (that needs root's capabilities outside
// tug's user namespace), so one goroutine, locked to a thread that never
// leaves the container's namespace, makes every inner socket; sockets
// keep their namespace wherever they are used. A host port in use fails
// the start, as for root.
//
// TCP clients keep their address, as they would behind docker's DNAT:
// the inner socket is IP_TRANSPARENT, bound to the client's address and
// port, and connects to the container's own address; a policy rule in
// the container's namespace (from that address, TCP, from the published
// port: table transparentTable, where every address is local) brings
// the server's replies back to it instead of out through the user-mode
// stack. Not UDP: a server on 0.0.0.0 picks its replies' source only
// after the routing lookup, so no rule on the source can catch them,
// and one on the port alone would also catch the container's own
// traffic from that port; UDP flows come from the container's loopback.
type forwarder struct {
	ports   []Port // as bound: a host port of 0 is the one picked
	tcp     []tcpPort
	udp     []udpPort
	sockets chan socketRequest
	wg      sync.WaitGroup
	closing chan struct{}
	once    sync.Once
	// self is the container's address that transparent connections
	// go to; invalid until transparent() set it up
	self netip.Addr
}

// transparentTable is the routing table of the rule that brings replies
// to forwarded clients back: "tu".
const transparentTable = 0x7475

type tcpPort struct {
	l    stdnet.Listener
	port uint16 // in the container
}

type udpPort struct {
	c    stdnet.PacketConn
	port uint16
}

type socketRequest struct {
	typ   int
	bind  *unix.SockaddrInet4 // with IP_TRANSPARENT; nil: any address
	reply chan socketReply
}

type socketReply struct {
	fd  int
	err error
}

// newForwarder binds every published port and starts the namespace's
// socket maker; serve starts forwarding.
func newForwarder(pid int, ports []Port) (*forwarder, error) {
	f := &forwarder{sockets: make(chan socketRequest), closing: make(chan struct{})}
	if len(ports) == 0 {
		return f, nil
	}
	for _, p := range ports {
		c, err := p.bind()
		if err != nil {
			f.close()
			return nil, err
		}
		switch c := c.(type) {
		case stdnet.PacketConn:
			f.udp = append(f.udp, udpPort{c, p.ContainerPort})
		case stdnet.Listener:
			f.tcp = append(f.tcp, tcpPort{c, p.ContainerPort})
		}
		f.ports = append(f.ports, p)
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		f.close()
		return nil, fmt.Errorf("container netns: %w", err)
	}
	ready := make(chan error)
	go f.makeSockets(ns, ready)
	if err := <-ready; err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// makeSockets enters the namespace on a thread of its own for good and
// makes sockets there until the forwarder closes.
func (f *forwarder) makeSockets(ns *os.File, ready chan<- error) {
	runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
	err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET)
	ns.Close()
	ready <- err
	if err != nil {
		return
	}
	for {
		select {
		case r := <-f.sockets:
			fd, err := unix.Socket(unix.AF_INET, r.typ|unix.SOCK_CLOEXEC, 0)
			if err == nil && r.bind != nil {
				err = unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_TRANSPARENT, 1)
				if err == nil {
					err = unix.Bind(fd, r.bind)
				}
				if err != nil {
					unix.Close(fd)
				}
			}
			r.reply <- socketReply{fd, err}
		case <-f.closing:
			return
		}
	}
}

// dialIn connects to port on the container: as from the client, for TCP
// when the forwarder is transparent, else from and to its loopback.
func (f *forwarder) dialIn(typ int, port uint16, client stdnet.Addr) (stdnet.Conn, error) {
	to := [4]byte{127, 0, 0, 1}
	var bind *unix.SockaddrInet4
	if ap, err := netip.ParseAddrPort(addrString(client)); err == nil && typ == unix.SOCK_STREAM && f.self.IsValid() && ap.Addr().Unmap().Is4() {
		bind = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
		to = f.self.As4()
	}
	conn, err := f.dialFrom(typ, bind, to, port)
	if err != nil && bind != nil { // the client's port is taken inside: not transparent
		conn, err = f.dialFrom(typ, nil, [4]byte{127, 0, 0, 1}, port)
	}
	return conn, err
}

// addrString is a's host:port, "" for none.
func addrString(a stdnet.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

func (f *forwarder) dialFrom(typ int, bind *unix.SockaddrInet4, to [4]byte, port uint16) (stdnet.Conn, error) {
	r := socketRequest{typ: typ, bind: bind, reply: make(chan socketReply, 1)}
	select {
	case f.sockets <- r:
	case <-f.closing:
		return nil, errors.New("forwarder closed")
	}
	rep := <-r.reply
	if rep.err != nil {
		return nil, rep.err
	}
	if err := unix.Connect(rep.fd, &unix.SockaddrInet4{Port: int(port), Addr: to}); err != nil {
		unix.Close(rep.fd)
		return nil, err
	}
	file := os.NewFile(uintptr(rep.fd), "container-socket")
	defer file.Close()
	return stdnet.FileConn(file)
}

// serve forwards every port until close.
func (f *forwarder) serve() {
	for _, t := range f.tcp {
		f.wg.Add(1)
		go f.serveTCP(t.l, t.port)
	}
	for _, u := range f.udp {
		f.wg.Add(1)
		go f.serveUDP(u.c, u.port)
	}
}

func (f *forwarder) serveTCP(l stdnet.Listener, port uint16) {
	defer f.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			in, err := f.dialIn(unix.SOCK_STREAM, port, c.RemoteAddr())
			if err != nil {
				return
			}
			defer in.Close()
			pipe(c, in)
		}()
	}
}

// pipe copies both ways until both directions are done, passing on
// each half-close.
func pipe(a, b stdnet.Conn) {
	done := make(chan struct{}, 2)
	half := func(dst, src stdnet.Conn) {
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go half(a, b)
	go half(b, a)
	<-done
	<-done
}

// udpIdle is how long a UDP client's flow is kept without traffic.
const udpIdle = 60 * time.Second

// serveUDP forwards datagrams: one socket in the container per client
// address, whose replies go back to that client.
func (f *forwarder) serveUDP(c stdnet.PacketConn, port uint16) {
	defer f.wg.Done()
	var mu sync.Mutex
	flows := map[string]stdnet.Conn{}
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			mu.Lock()
			for _, in := range flows {
				in.Close()
			}
			mu.Unlock()
			return
		}
		mu.Lock()
		in, ok := flows[from.String()]
		if !ok {
			if in, err = f.dialIn(unix.SOCK_DGRAM, port, from); err != nil {
				mu.Unlock()
				continue
			}
			flows[from.String()] = in
			go func() {
				reply := make([]byte, 65536)
				for {
					in.SetReadDeadline(time.Now().Add(udpIdle))
					n, err := in.Read(reply)
					if err != nil {
						break
					}
					c.WriteTo(reply[:n], from)
				}
				mu.Lock()
				delete(flows, from.String())
				mu.Unlock()
				in.Close()
			}()
		}
		mu.Unlock()
		in.Write(buf[:n])
	}
}

// transparent lets TCP clients keep their address (see forwarder): the
// rules, in the namespace of pid, for the container's address self.
func (f *forwarder) transparent(pid int, self netip.Addr) error {
	if len(f.tcp) == 0 || !self.Is4() {
		return nil
	}
	h, done, err := handleIn(pid)
	if err != nil {
		return err
	}
	defer done()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("container lo: %w", err)
	}
	local := &netlink.Route{Table: transparentTable, Type: unix.RTN_LOCAL, Scope: netlink.SCOPE_HOST,
		Dst: &stdnet.IPNet{IP: stdnet.IPv4zero, Mask: stdnet.CIDRMask(0, 32)}, LinkIndex: lo.Attrs().Index}
	if err := h.RouteAdd(local); err != nil {
		return fmt.Errorf("transparent forwarding: route: %w", err)
	}
	for _, t := range f.tcp {
		rule := netlink.NewRule()
		rule.Src = &stdnet.IPNet{IP: self.AsSlice(), Mask: stdnet.CIDRMask(32, 32)}
		rule.IPProto, rule.Sport, rule.Table = unix.IPPROTO_TCP, netlink.NewRulePortRange(t.port, t.port), transparentTable
		if err := h.RuleAdd(rule); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("transparent forwarding: rule: %w", err)
		}
	}
	f.self = self
	return nil
}

// close stops listening and forwarding; flows in progress end with
// their connections.
func (f *forwarder) close() {
	f.once.Do(func() {
		close(f.closing)
		for _, t := range f.tcp {
			t.l.Close()
		}
		for _, u := range f.udp {
			u.c.Close()
		}
	})
	f.wg.Wait()
}
