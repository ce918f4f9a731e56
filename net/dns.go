package net

// Containers on a user-defined network find each other by name, with no
// daemon: the container's keeper (its monitor, or the foreground tug)
// answers DNS at 127.0.0.11:53 inside the container's own network
// namespace, as docker's embedded DNS does. Names are the containers'
// names and --network-alias aliases on the same network, read from the
// store at each query; anything else goes to the host's resolvers.

import (
	"errors"
	"fmt"
	stdnet "net"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/net/dns/dnsmessage"
)

// DNSAddress is where the embedded DNS server answers in a container.
const DNSAddress = "127.0.0.11"

// Resolver answers the names of one network.
type Resolver func(name string) (netip.Addr, bool)

// ServeDNS starts the DNS server in the network namespace of pid and
// returns a function that stops it.
func ServeDNS(pid int, resolve Resolver, upstream []string) (func(), error) {
	conn, err := listenIn(pid)
	if err != nil {
		return nil, err
	}
	go serve(conn, resolve, upstream)
	return func() { conn.Close() }, nil
}

// listenIn opens the UDP socket inside pid's namespace: a socket belongs
// to the namespace of the thread that made it, so a locked thread enters
// the namespace, makes it, and goes back; a thread that could not go back
// dies with its goroutine instead of returning to the pool.
func listenIn(pid int) (stdnet.PacketConn, error) {
	type result struct {
		conn stdnet.PacketConn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		conn, err, back := listenLocked(pid)
		if back {
			runtime.UnlockOSThread()
		}
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}

// listenLocked does listenIn's work on a locked thread and reports
// whether the thread is back in its own namespace.
func listenLocked(pid int) (stdnet.PacketConn, error, bool) {
	home, err := netns.Get()
	if err != nil {
		return nil, err, true
	}
	defer home.Close()
	target, err := netns.GetFromPid(pid)
	if err != nil {
		return nil, fmt.Errorf("dns: container netns: %w", err), true
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return nil, fmt.Errorf("dns: enter netns: %w", err), true
	}
	conn, lerr := stdnet.ListenPacket("udp4", DNSAddress+":53")
	back := netns.Set(home) == nil
	if lerr != nil {
		return nil, fmt.Errorf("dns: listen: %w", lerr), back
	}
	return conn, nil, back
}

func serve(conn stdnet.PacketConn, resolve Resolver, upstream []string) {
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if reply := answer(buf[:n], resolve, upstream); reply != nil {
			conn.WriteTo(reply, from)
		}
	}
}

// answer builds the reply to one query: an A record for a known name,
// or the upstream servers' answer, or SERVFAIL.
func answer(query []byte, resolve Resolver, upstream []string) []byte {
	var p dnsmessage.Parser
	hdr, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")
	if addr, ok := resolve(name); ok {
		return reply(hdr, q, dnsmessage.RCodeSuccess, addr) // an A record; none for other types
	}
	if r, err := forward(query, upstream); err == nil {
		return r
	}
	return reply(hdr, q, dnsmessage.RCodeServerFailure, netip.Addr{})
}

func reply(hdr dnsmessage.Header, q dnsmessage.Question, code dnsmessage.RCode, addr netip.Addr) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: hdr.ID, Response: true, Authoritative: true,
		RecursionDesired: hdr.RecursionDesired, RecursionAvailable: true, RCode: code})
	b.EnableCompression()
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	if addr.IsValid() && q.Type == dnsmessage.TypeA {
		b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0},
			dnsmessage.AResource{A: addr.As4()})
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// forward asks the upstream servers in turn.
func forward(query []byte, upstream []string) ([]byte, error) {
	for _, server := range upstream {
		c, err := stdnet.DialTimeout("udp", stdnet.JoinHostPort(server, "53"), time.Second)
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Write(query)
		buf := make([]byte, 1500)
		n, rerr := c.Read(buf)
		c.Close()
		if err == nil && rerr == nil {
			return buf[:n], nil
		}
	}
	return nil, errors.New("no upstream answered")
}
