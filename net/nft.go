package net

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// tug's NAT lives in its own table, "ip tug":
//
//	postrouting  masquerade what leaves the subnet for elsewhere, and
//	             what reaches it from 127.0.0.0/8 (published ports
//	             used from the host itself)
//	prerouting   DNAT of published ports arriving from outside
//	output       the same for connections made on the host
//
// Each port rule carries its container's ID as user data, so rm can
// find and delete exactly its rules.

func table() *nftables.Table {
	return &nftables.Table{Name: "tug", Family: nftables.TableFamilyIPv4}
}

func natChain(t *nftables.Table, name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio}
}

// ensureNAT creates tug's table and chains, and n's rules unless they
// are there: masquerade of its subnet (not for an internal network), the
// loopback masquerade for its published ports, and in the forward chain
// isolation from tug's other bridges (from everything, when internal).
func ensureNAT(n Network, internal bool) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := c.AddTable(table())
	post := c.AddChain(natChain(t, "postrouting", nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource))
	c.AddChain(natChain(t, "prerouting", nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest))
	c.AddChain(natChain(t, "output", nftables.ChainHookOutput, nftables.ChainPriorityNATDest))
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: create table tug: %w", err)
	}
	rules, err := c.GetRules(t, post)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	tag := []byte("net:" + n.Bridge)
	for _, r := range rules {
		if string(r.UserData) == string(tag) {
			return nil
		}
	}
	mask := netip.PrefixFrom(n.Subnet.Addr(), n.Subnet.Bits())
	if !internal {
		c.AddRule(&nftables.Rule{Table: t, Chain: post, UserData: tag, Exprs: []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: prefixMask(mask), Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: mask.Addr().AsSlice()},
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(n.Bridge)},
			&expr.Masq{},
		}})
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: post, UserData: tag, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(n.Bridge)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{127}},
		&expr.Masq{},
	}})
	// forward: from this bridge to another of tug's (names "tug0" and
	// "tb…", compared by prefix) is dropped; when internal, anything
	// that leaves the bridge is
	targets := [][]byte{[]byte("tb"), ifname("tug0")}
	if internal {
		targets = [][]byte{nil}
	}
	for _, target := range targets {
		exprs := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(n.Bridge)},
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(n.Bridge)},
		}
		if target != nil {
			exprs = append(exprs, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: target})
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: fwd, UserData: tag, Exprs: append(exprs, &expr.Verdict{Kind: expr.VerdictDrop})})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: rules of network %s: %w", n.Name, err)
	}
	return nil
}

// deleteNetworkRules removes the rules of a network's bridge.
func deleteNetworkRules(bridge string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := table()
	for _, chain := range []string{"postrouting", "forward"} {
		rules, err := c.GetRules(t, &nftables.Chain{Name: chain, Table: t})
		if err != nil {
			continue
		}
		for _, r := range rules {
			if string(r.UserData) == "net:"+bridge {
				if err := c.DelRule(r); err != nil {
					return err
				}
			}
		}
	}
	return c.Flush()
}

func prefixMask(p netip.Prefix) []byte {
	m := make([]byte, 4)
	binary.BigEndian.PutUint32(m, ^uint32(0)<<(32-p.Bits()))
	return m
}

// ifname is an interface name as nftables compares it: NUL-padded.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

// addPorts adds the DNAT rules of id's published ports.
func addPorts(id string, ip netip.Addr, ports []Port) error {
	if len(ports) == 0 {
		return nil
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := table()
	for _, chain := range []string{"prerouting", "output"} {
		ch := &nftables.Chain{Name: chain, Table: t}
		for _, p := range ports {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, UserData: []byte(id), Exprs: dnat(p, ip)})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: publish ports: %w", err)
	}
	return nil
}

// dnat matches traffic to a published port on the host and sends it to
// the container.
func dnat(p Port, ip netip.Addr) []expr.Any {
	var match []expr.Any
	if p.HostIP.IsValid() {
		match = []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.HostIP.AsSlice()},
		}
	} else {
		match = []expr.Any{
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, unix.RTN_LOCAL)},
		}
	}
	proto := byte(unix.IPPROTO_TCP)
	if p.Proto == "udp" {
		proto = unix.IPPROTO_UDP
	}
	return append(match,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, p.HostPort)},
		&expr.Immediate{Register: 1, Data: ip.AsSlice()},
		&expr.Immediate{Register: 2, Data: binary.BigEndian.AppendUint16(nil, p.ContainerPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
}

// deletePorts removes every rule that carries id.
func deletePorts(id string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := table()
	for _, chain := range []string{"prerouting", "output"} {
		rules, err := c.GetRules(t, &nftables.Chain{Name: chain, Table: t})
		if err != nil {
			return nil // no table: nothing to delete
		}
		for _, r := range rules {
			if string(r.UserData) == id {
				if err := c.DelRule(r); err != nil {
					return err
				}
			}
		}
	}
	return c.Flush()
}

// ProbeNAT tells whether tug can reach nftables through netlink: the
// NAT of bridge networks and published ports.
func ProbeNAT() error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	_, err = c.ListTables()
	return err
}

// natReady tells whether tug's table has the rules of a bridge.
func natReady(bridge string) bool {
	c, err := nftables.New()
	if err != nil {
		return false
	}
	rules, err := c.GetRules(table(), &nftables.Chain{Name: "postrouting", Table: table()})
	if err != nil {
		return false
	}
	for _, r := range rules {
		if string(r.UserData) == "net:"+bridge {
			return true
		}
	}
	return false
}
