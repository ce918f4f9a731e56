package net

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"tug/store"
)

// A TCP connection made on the host to a port published on 127.0.0.1
// (or on every address) would take the DNAT path: out on lo, through
// conntrack and NAT, re-routed to the bridge, masqueraded. Instead a BPF
// program of type CGROUP_SOCK_ADDR, attached at connect(2) to the root
// of the cgroup v2 tree, rewrites the destination before the socket is
// connected, so the connection goes straight to the container's address
// as if the client had dialled it (Cilium's socket-level load balancing
// works the same way). The DNAT rules stay for everything else: other
// hosts, UDP, the host's non-loopback addresses, kernels without the hook.
//
// The program rewrites only sockets of the network namespace tug runs in
// (its cookie is a constant in the program) and only destinations in
// 127.0.0.0/8. It looks its map up by {address, port}, then by
// {0.0.0.0, port} for ports published on every address. It keeps the
// address the socket asked for in the socket's own storage, and a second
// program, at getpeername, gives it back: the client sees the peer it
// dialled, as with DNAT. It is attached
// with BPF_PROG_ATTACH and so outlives the tug that attached it; later
// tugs find it and its map through the cgroup, by name. The last port
// to go detaches it, so a host without published ports keeps no trace.

const (
	redirectProg = "tug_publish4"
	redirectMap  = "tug_ports4"
	peerProg     = "tug_peer4"
	peerMap      = "tug_peers4"
)

// redirectKey is a map key: an address and a port as connect(2)'s
// bpf_sock_addr holds them (network byte order, the port in a u32).
type redirectKey struct {
	IP   uint32
	Port uint32
}

// redirectValue is where a key's connections go, and whose they are.
type redirectValue struct {
	IP   uint32
	Port uint32
	Tag  uint64 // the container ID's first 8 bytes
}

// sockAddr packs addr and port as bpf_sock_addr's user_ip4 and user_port.
func sockAddr(addr netip.Addr, port uint16) (uint32, uint32) {
	a := addr.As4()
	p := [4]byte{byte(port >> 8), byte(port)}
	return binary.NativeEndian.Uint32(a[:]), binary.NativeEndian.Uint32(p[:])
}

// tagOf is the tag of container id.
func tagOf(id string) uint64 {
	b, _ := hex.DecodeString(id[:min(16, len(id))])
	var t [8]byte
	copy(t[:], b)
	return binary.NativeEndian.Uint64(t[:])
}

// redirectable tells whether the host's own connections to p can be
// redirected: TCP, published on a loopback address or on all of them.
func redirectable(p Port) bool {
	return p.Proto == "tcp" && (!p.HostIP.IsValid() || p.HostIP.IsLoopback())
}

// addRedirects sends the host's connections to id's loopback-published
// TCP ports straight to ip. It is an optimisation over the DNAT rules:
// where the kernel refuses it, those carry the traffic.
func addRedirects(id string, ip netip.Addr, ports []Port) error {
	var keys []redirectKey
	var values []redirectValue
	for _, p := range ports {
		if !redirectable(p) {
			continue
		}
		host := netip.IPv4Unspecified()
		if p.HostIP.IsValid() {
			host = p.HostIP
		}
		var k redirectKey
		var v redirectValue
		k.IP, k.Port = sockAddr(host, p.HostPort)
		v.IP, v.Port = sockAddr(ip, p.ContainerPort)
		v.Tag = tagOf(id)
		keys, values = append(keys, k), append(values, v)
	}
	if len(keys) == 0 {
		return nil
	}
	lock, cg, err := lockRedirects()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	defer cg.Close()
	m, err := attachedMap(cg)
	if err != nil {
		return err
	}
	if m != nil && !complete(cg) {
		// an older tug's: take its entries over to a fresh pair
		old := m
		defer old.Close()
		oldKeys, oldValues := entries(old)
		detachRedirect(cg)
		m = nil
		keys, values = append(oldKeys, keys...), append(oldValues, values...)
	}
	if m == nil {
		if m, err = attachRedirect(cg); err != nil {
			return err
		}
	}
	defer m.Close()
	if _, err := m.BatchUpdate(keys, values, nil); err != nil {
		for i := range keys { // no batch ops for hash maps on old kernels
			if err := m.Put(keys[i], values[i]); err != nil {
				return fmt.Errorf("publish: redirect map: %w", err)
			}
		}
	}
	return nil
}

// complete tells whether the getpeername program is attached beside
// connect4, as this tug attaches them; an older one attached connect4
// alone.
func complete(cg *os.File) bool {
	p, err := attachedProgram(cg, ebpf.AttachCgroupInet4GetPeername, peerProg)
	if p != nil {
		p.Close()
	}
	return p != nil && err == nil
}

// entries reads every entry of the redirect map m.
func entries(m *ebpf.Map) ([]redirectKey, []redirectValue) {
	var keys []redirectKey
	var values []redirectValue
	var k redirectKey
	var v redirectValue
	for it := m.Iterate(); it.Next(&k, &v); {
		keys, values = append(keys, k), append(values, v)
	}
	return keys, values
}

// deleteRedirects removes id's entries, and the program with the last.
func deleteRedirects(id string) error {
	lock, cg, err := lockRedirects()
	if err != nil {
		return nil // no cgroup v2: nothing was ever attached
	}
	defer lock.Unlock()
	defer cg.Close()
	m, err := attachedMap(cg)
	if m == nil || err != nil {
		return err
	}
	defer m.Close()
	tag, left := tagOf(id), 0
	keys, values := entries(m)
	for i, k := range keys {
		if values[i].Tag != tag {
			left++
			continue
		}
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("unpublish: redirect map: %w", err)
		}
	}
	if left == 0 {
		return detachRedirect(cg)
	}
	return nil
}

// lockRedirects takes the host-wide lock of the redirect program and
// opens the root of the cgroup v2 tree it is attached to.
func lockRedirects() (*store.Lock, *os.File, error) {
	root, err := RedirectRoot()
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(hostDir, 0o700); err != nil {
		return nil, nil, err
	}
	lock, err := store.LockFile(filepath.Join(hostDir, "redirect.lock"))
	if err != nil {
		return nil, nil, err
	}
	cg, err := os.Open(root)
	if err != nil {
		lock.Unlock()
		return nil, nil, err
	}
	return lock, cg, nil
}

// RedirectRoot is the root of the cgroup v2 tree the connect(2)
// redirect attaches to: /sys/fs/cgroup on v2 hosts, its unified dir on
// hybrid ones.
func RedirectRoot() (string, error) {
	for _, dir := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return dir, nil
		}
	}
	return "", errors.New("no cgroup v2 hierarchy")
}

// attachedProgram finds tug's program called name among those attached
// to cg at attach.
func attachedProgram(cg *os.File, attach ebpf.AttachType, name string) (*ebpf.Program, error) {
	res, err := link.QueryPrograms(link.QueryOptions{Target: int(cg.Fd()), Attach: attach})
	if err != nil {
		return nil, fmt.Errorf("query %s programs: %w", attach, err)
	}
	for _, ap := range res.Programs {
		p, err := ebpf.NewProgramFromID(ap.ID)
		if err != nil {
			continue
		}
		if info, err := p.Info(); err == nil && info.Name == name {
			return p, nil
		}
		p.Close()
	}
	return nil, nil
}

// attachedMap opens the map of the attached program; nil if none is.
func attachedMap(cg *os.File) (*ebpf.Map, error) {
	p, err := attachedProgram(cg, ebpf.AttachCGroupInet4Connect, redirectProg)
	if p == nil || err != nil {
		return nil, err
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return nil, err
	}
	ids, _ := info.MapIDs()
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			continue
		}
		if mi, err := m.Info(); err == nil && mi.Name == redirectMap {
			return m, nil
		}
		m.Close()
	}
	return nil, fmt.Errorf("program %s has no map %s", redirectProg, redirectMap)
}

// attachRedirect loads the programs and attaches them to cg: connect4,
// which redirects and keeps the address the socket asked for in its
// socket storage, and getpeername4, which gives that address back, so
// that the client sees the peer it dialled.
func attachRedirect(cg *os.File) (*ebpf.Map, error) {
	cookie, err := netnsCookie()
	if err != nil {
		return nil, err
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: redirectMap, Type: ebpf.Hash, KeySize: 8, ValueSize: 16, MaxEntries: 4096})
	if err != nil {
		return nil, fmt.Errorf("redirect map: %w", err)
	}
	peers, err := ebpf.NewMap(&ebpf.MapSpec{Name: peerMap, Type: ebpf.SkStorage, KeySize: 4, ValueSize: 8,
		Flags: unix.BPF_F_NO_PREALLOC, Key: &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}, Value: &btf.Int{Name: "u64", Size: 8}})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("peer storage: %w", err)
	}
	defer peers.Close()
	progs := []struct {
		name   string
		attach ebpf.AttachType
		insns  asm.Instructions
	}{
		{peerProg, ebpf.AttachCgroupInet4GetPeername, peerInstructions(peers.FD())},
		{redirectProg, ebpf.AttachCGroupInet4Connect, redirectInstructions(m.FD(), peers.FD(), cookie)},
	}
	for _, p := range progs {
		if err := attachProgram(cg, p.name, p.attach, p.insns); err != nil {
			m.Close()
			detachRedirect(cg)
			return nil, err
		}
	}
	return m, nil
}

func attachProgram(cg *os.File, name string, attach ebpf.AttachType, insns asm.Instructions) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: name, Type: ebpf.CGroupSockAddr, AttachType: attach, License: "GPL", Instructions: insns,
	})
	if err != nil {
		return fmt.Errorf("load %s: %w", name, err)
	}
	defer prog.Close()
	err = link.RawAttachProgram(link.RawAttachProgramOptions{Target: int(cg.Fd()), Program: prog,
		Attach: attach, Flags: unix.BPF_F_ALLOW_MULTI})
	if err != nil {
		return fmt.Errorf("attach %s: %w", name, err)
	}
	return nil
}

// detachRedirect detaches tug's programs from cg, those that are there.
func detachRedirect(cg *os.File) error {
	var errs []error
	for _, p := range []struct {
		name   string
		attach ebpf.AttachType
	}{{redirectProg, ebpf.AttachCGroupInet4Connect}, {peerProg, ebpf.AttachCgroupInet4GetPeername}} {
		prog, err := attachedProgram(cg, p.attach, p.name)
		if prog == nil || err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, link.RawDetachProgram(link.RawDetachProgramOptions{Target: int(cg.Fd()), Program: prog, Attach: p.attach}))
		prog.Close()
	}
	return errors.Join(errs...)
}

// netnsCookie is the cookie of the network namespace tug runs in.
func netnsCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var cookie uint64
	n := uint32(unsafe.Sizeof(cookie))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_NETNS_COOKIE,
		uintptr(unsafe.Pointer(&cookie)), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return 0, fmt.Errorf("netns cookie: %w", errno)
	}
	return cookie, nil
}

// redirectInstructions is the connect4 program. Its context is
// struct bpf_sock_addr:
//
//	u32 user_family   0
//	u32 user_ip4      4   destination, network byte order
//	u32 user_port    24   destination port, network byte order
//	bpf_sock *sk     64
//
// and returning 1 lets connect(2) go on (with the rewritten address).
// What the socket asked for is kept in its storage in the peers map.
func redirectInstructions(mapFD, peersFD int, cookie uint64) asm.Instructions {
	first := binary.NativeEndian.Uint32([]byte{0xff, 0, 0, 0})
	loop := binary.NativeEndian.Uint32([]byte{127, 0, 0, 0})
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.FnGetNetnsCookie.Call(), // the socket's namespace
		asm.LoadImm(asm.R1, int64(cookie), asm.DWord),
		asm.JNE.Reg(asm.R0, asm.R1, "allow"),
		asm.LoadMem(asm.R7, asm.R6, 4, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.And.Imm(asm.R1, int32(first)),
		asm.JNE.Imm(asm.R1, int32(loop), "allow"), // not 127.0.0.0/8
		asm.StoreMem(asm.RFP, -8, asm.R7, asm.Word),
		asm.LoadMem(asm.R1, asm.R6, 24, asm.Word),
		asm.StoreMem(asm.RFP, -4, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, mapFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapLookupElem.Call(), // {address, port}
		asm.JNE.Imm(asm.R0, 0, "found"),
		asm.StoreImm(asm.RFP, -8, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, mapFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapLookupElem.Call(), // {0.0.0.0, port}
		asm.JEq.Imm(asm.R0, 0, "allow"),
		asm.Mov.Reg(asm.R8, asm.R0).WithSymbol("found"),
		asm.LoadMapPtr(asm.R1, peersFD),
		asm.LoadMem(asm.R2, asm.R6, 64, asm.DWord), // ctx->sk
		asm.Mov.Imm(asm.R3, 0),
		asm.Mov.Imm(asm.R4, 1), // BPF_SK_STORAGE_GET_F_CREATE
		asm.FnSkStorageGet.Call(),
		asm.JEq.Imm(asm.R0, 0, "rewrite"),
		asm.StoreMem(asm.R0, 0, asm.R7, asm.Word), // the address asked for
		asm.LoadMem(asm.R1, asm.RFP, -4, asm.Word),
		asm.StoreMem(asm.R0, 4, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R8, 0, asm.Word).WithSymbol("rewrite"),
		asm.StoreMem(asm.R6, 4, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R8, 4, asm.Word),
		asm.StoreMem(asm.R6, 24, asm.R1, asm.Word),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("allow"),
		asm.Return(),
	}
}

// peerInstructions is the getpeername4 program: a socket the redirect
// connected reports the address it asked for.
func peerInstructions(peersFD int) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMapPtr(asm.R1, peersFD),
		asm.LoadMem(asm.R2, asm.R6, 64, asm.DWord), // ctx->sk
		asm.Mov.Imm(asm.R3, 0),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnSkStorageGet.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.StoreMem(asm.R6, 4, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R0, 4, asm.Word),
		asm.StoreMem(asm.R6, 24, asm.R1, asm.Word),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("out"),
		asm.Return(),
	}
}
