package net

import (
	"errors"
	"fmt"
	"io"
	stdnet "net"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Port is one -p: a host address and port published to a container port.
type Port struct {
	HostIP        netip.Addr `json:"host_ip,omitzero"` // zero: every address
	HostPort      uint16     `json:"host_port"`        // 0: pick a free one
	ContainerPort uint16     `json:"container_port"`
	Proto         string     `json:"proto"` // tcp or udp
}

// Key names the container side as docker does: 80/tcp.
func (p Port) Key() string { return fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto) }

// ParsePorts reads -p [IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp].
func ParsePorts(specs []string) ([]Port, error) {
	var out []Port
	for _, s := range specs {
		ps, err := parsePort(s)
		if err != nil {
			return nil, fmt.Errorf("-p %s: %w", s, err)
		}
		out = append(out, ps...)
	}
	return out, nil
}

// parsePort reads one -p: [IP:][HOSTPORT:]CONTAINERPORT[/PROTO], where
// either port may be a range START-END, as in docker: 8080-8082:80-82
// publishes three ports, 80-82 three on random host ports.
func parsePort(s string) ([]Port, error) {
	p := Port{Proto: "tcp"}
	rest, proto, hasProto := strings.Cut(s, "/")
	if hasProto {
		if proto != "tcp" && proto != "udp" {
			return nil, fmt.Errorf("protocol %q: want tcp or udp", proto)
		}
		p.Proto = proto
	}
	parts := strings.Split(rest, ":")
	if len(parts) > 3 {
		return nil, fmt.Errorf("want [IP:][HOSTPORT:]CONTAINERPORT[/PROTO]")
	}
	ctr, err := portRange(parts[len(parts)-1], false)
	if err != nil {
		return nil, err
	}
	host := []uint16{0}
	if len(parts) >= 2 {
		if host, err = portRange(parts[len(parts)-2], true); err != nil {
			return nil, err
		}
	}
	if len(parts) == 3 && parts[0] != "" {
		if p.HostIP, err = netip.ParseAddr(parts[0]); err != nil || !p.HostIP.Is4() {
			return nil, fmt.Errorf("host address %q: want an IPv4 address", parts[0])
		}
	}
	if len(host) == 1 && host[0] == 0 {
		host = make([]uint16, len(ctr)) // each on a random host port
	}
	if len(host) != len(ctr) {
		return nil, fmt.Errorf("the host range has %d ports, the container range %d", len(host), len(ctr))
	}
	out := make([]Port, len(ctr))
	for i := range ctr {
		out[i] = p
		out[i].HostPort, out[i].ContainerPort = host[i], ctr[i]
	}
	return out, nil
}

// portRange reads a port or a range START-END of at most 65535 ports.
func portRange(s string, zeroOK bool) ([]uint16, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		n, err := portNumber(s, zeroOK)
		return []uint16{n}, err
	}
	a, err := portNumber(lo, false)
	if err != nil {
		return nil, err
	}
	b, err := portNumber(hi, false)
	if err != nil {
		return nil, err
	}
	if b < a {
		return nil, fmt.Errorf("port range %q: the end is before the start", s)
	}
	out := make([]uint16, 0, int(b)-int(a)+1)
	for n := int(a); n <= int(b); n++ {
		out = append(out, uint16(n))
	}
	return out, nil
}

func portNumber(s string, zeroOK bool) (uint16, error) {
	if s == "" && zeroOK {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || (n == 0 && !zeroOK) {
		return 0, fmt.Errorf("port %q: want 1 to 65535", s)
	}
	return uint16(n), nil
}

// claim checks that the host port is free, and picks one when it is 0,
// by binding it for a moment: a port in use is refused at start, with
// nothing set up.
func (p *Port) claim() error {
	c, err := p.bind()
	if err != nil {
		return err
	}
	return c.Close()
}

// bind listens on the host port (TCP) or binds it (UDP), and sets
// HostPort to the port the kernel picked when it was 0.
func (p *Port) bind() (io.Closer, error) {
	host := "0.0.0.0"
	if p.HostIP.IsValid() {
		host = p.HostIP.String()
	}
	addr := stdnet.JoinHostPort(host, strconv.Itoa(int(p.HostPort)))
	if p.Proto == "udp" {
		c, err := stdnet.ListenPacket("udp4", addr)
		if err != nil {
			return nil, portError(addr, p, err)
		}
		p.HostPort = uint16(c.LocalAddr().(*stdnet.UDPAddr).Port)
		return c, nil
	}
	l, err := stdnet.Listen("tcp4", addr)
	if err != nil {
		return nil, portError(addr, p, err)
	}
	p.HostPort = uint16(l.Addr().(*stdnet.TCPAddr).Port)
	return l, nil
}

// portError says why a host port cannot be had: it is taken, or (for a
// rootless user) below the first port an unprivileged user may bind.
func portError(addr string, p *Port, err error) error {
	if errors.Is(err, unix.EACCES) {
		return fmt.Errorf("host port %s/%s: only root may bind ports below net.ipv4.ip_unprivileged_port_start "+
			"(sudo sysctl net.ipv4.ip_unprivileged_port_start=%d, or publish a higher port)", addr, p.Proto, p.HostPort)
	}
	return fmt.Errorf("host port %s/%s is not free: %w", addr, p.Proto, err)
}

// bindings are ports as inspect and port show them: per container port,
// the host addresses and ports.
func bindings(ports []Port) map[string][]PortBinding {
	out := map[string][]PortBinding{}
	for _, p := range ports {
		hostIP := "0.0.0.0"
		if p.HostIP.IsValid() {
			hostIP = p.HostIP.String()
		}
		out[p.Key()] = append(out[p.Key()], PortBinding{HostIP: hostIP, HostPort: strconv.Itoa(int(p.HostPort))})
	}
	return out
}
