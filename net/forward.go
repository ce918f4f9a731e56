package net

import (
	"errors"
	"fmt"
	"io"
	stdnet "net"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// forwarder publishes a rootless container's ports: it listens on the
// host, in the keeper (the monitor, or a foreground tug), and for each
// client opens a socket inside the container's network namespace to
// the container port on its loopback. The keeper cannot return to the
// host's namespace once it has entered the container's (that needs
// root's capabilities outside tug's user namespace), so one goroutine,
// locked to a thread that never leaves the container's namespace, makes
// every inner socket; sockets keep their namespace wherever they are
// used. A host port in use fails the start, as for root.
type forwarder struct {
	ports   []Port // as bound: a host port of 0 is the one picked
	tcp     []tcpPort
	udp     []udpPort
	sockets chan socketRequest
	wg      sync.WaitGroup
	closing chan struct{}
	once    sync.Once
}

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
			r.reply <- socketReply{fd, err}
		case <-f.closing:
			return
		}
	}
}

// dialIn connects to port on the container's loopback.
func (f *forwarder) dialIn(typ int, port uint16) (stdnet.Conn, error) {
	r := socketRequest{typ: typ, reply: make(chan socketReply, 1)}
	select {
	case f.sockets <- r:
	case <-f.closing:
		return nil, errors.New("forwarder closed")
	}
	rep := <-r.reply
	if rep.err != nil {
		return nil, rep.err
	}
	if err := unix.Connect(rep.fd, &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}); err != nil {
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
			in, err := f.dialIn(unix.SOCK_STREAM, port)
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
			if in, err = f.dialIn(unix.SOCK_DGRAM, port); err != nil {
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
