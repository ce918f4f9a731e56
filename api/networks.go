package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/network"

	tugnet "tug/net"
	"tug/run"
	"tug/store"
)

// networkID is the ID the API gives a network, which tug knows by name
// only: the same for the name on every call.
func networkID(name string) string {
	sum := sha256.Sum256([]byte("tug network " + name))
	return hex.EncodeToString(sum[:])
}

// lookupNetwork finds a network by name (bridge is tug's default), by
// ID, or by a prefix of its ID that no other network has.
func (srv *server) lookupNetwork(ref string) (*tugnet.Record, error) {
	r, err := tugnet.Lookup(srv.Store, ref, srv.Defaults.Subnet)
	if !errors.Is(err, store.ErrNotFound) || ref == "" {
		return r, err
	}
	all, err := tugnet.List(srv.Store, srv.Defaults.Subnet)
	if err != nil {
		return nil, err
	}
	var found *tugnet.Record
	for _, r := range all {
		if strings.HasPrefix(networkID(apiNetwork(r.Name)), ref) {
			if found != nil {
				return nil, badRequest(fmt.Errorf("network %s is ambiguous", ref))
			}
			found = r
		}
	}
	if found == nil {
		return nil, &store.NoSuch{Kind: "network", Name: ref}
	}
	return found, nil
}

// networkOf is a network in the API's type, with its containers.
func (srv *server) networkOf(r *tugnet.Record) network.Inspect {
	name := apiNetwork(r.Name)
	n := network.Inspect{Network: network.Network{
		Name: name, ID: networkID(name), Created: r.Created, Scope: "local", Driver: "bridge", EnableIPv4: true,
		IPAM:     network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: r.Subnet, Gateway: r.Gateway}}},
		Internal: r.Internal, Options: map[string]string{}, Labels: r.Labels,
	}, Containers: map[string]network.EndpointResource{}}
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	for _, id := range tugnet.Users(r.Network) {
		c, err := srv.Store.LookupContainer(id)
		if err != nil {
			continue
		}
		ep := network.EndpointResource{Name: c.Name}
		if in, err := run.Inspect(srv.Store, c); err == nil {
			if e, ok := in.NetworkSettings.Networks[r.Name]; ok {
				if a, err := netip.ParseAddr(e.IPAddress); err == nil {
					ep.IPv4Address = netip.PrefixFrom(a, e.IPPrefixLen)
				}
				ep.MacAddress.UnmarshalText([]byte(e.MacAddress))
			}
		}
		n.Containers[c.ID] = ep
	}
	return n
}

func (srv *server) listNetworks(w http.ResponseWriter, r *http.Request) {
	filters, err := filterValues(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	all, err := tugnet.List(srv.Store, srv.Defaults.Subnet)
	if err != nil {
		writeError(w, err)
		return
	}
	out := []network.Inspect{}
	for _, rec := range all {
		n := srv.networkOf(rec)
		if matchNetwork(n, filters) {
			out = append(out, n)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// matchNetwork applies /networks' filters: name (a substring, as
// docker's), id (a prefix), driver, label (K or K=V) and type.
func matchNetwork(n network.Inspect, filters map[string][]string) bool {
	anyOf := func(vals []string, ok func(string) bool) bool {
		if len(vals) == 0 {
			return true
		}
		for _, v := range vals {
			if ok(v) {
				return true
			}
		}
		return false
	}
	return anyOf(filters["name"], func(v string) bool { return strings.Contains(n.Name, v) }) &&
		anyOf(filters["id"], func(v string) bool { return strings.HasPrefix(n.ID, v) }) &&
		anyOf(filters["driver"], func(v string) bool { return v == n.Driver }) &&
		anyOf(filters["type"], func(v string) bool {
			return v == "custom" && n.Name != "bridge" || v == "builtin" && n.Name == "bridge"
		}) &&
		!slices.ContainsFunc(filters["label"], func(v string) bool { // all of them, as docker's
			k, want, hasValue := strings.Cut(v, "=")
			got, ok := n.Labels[k]
			return !ok || hasValue && got != want
		})
}

func (srv *server) inspectNetwork(w http.ResponseWriter, r *http.Request) {
	rec, err := srv.lookupNetwork(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, srv.networkOf(rec))
}

func (srv *server) createNetwork(w http.ResponseWriter, r *http.Request) {
	var req network.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Driver != "" && req.Driver != "bridge" {
		writeError(w, badRequest(fmt.Errorf("network driver %q: tug has bridge networks only", req.Driver)))
		return
	}
	opt := tugnet.CreateOptions{Internal: req.Internal, Labels: req.Labels}
	if req.IPAM != nil && len(req.IPAM.Config) > 0 {
		c := req.IPAM.Config[0]
		if c.Subnet.IsValid() {
			opt.Subnet = c.Subnet.String()
		}
		if c.Gateway.IsValid() {
			opt.Gateway = c.Gateway.String()
		}
	}
	rec, err := tugnet.Create(srv.Store, req.Name, opt, srv.Defaults.Subnet)
	switch {
	case errors.Is(err, tugnet.ErrExists):
		err = statusError{http.StatusConflict, err}
	case err != nil:
		err = badRequest(err)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, network.CreateResponse{ID: networkID(rec.Name)})
}

func (srv *server) removeNetwork(w http.ResponseWriter, r *http.Request) {
	rec, err := srv.lookupNetwork(r.PathValue("id"))
	if err == nil && rec.Name == tugnet.DefaultName {
		err = statusError{http.StatusForbidden, errors.New("bridge is a pre-defined network and cannot be removed")}
	}
	if err == nil {
		err = tugnet.Remove(srv.Store, rec.Name, srv.Defaults.Subnet)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (srv *server) pruneNetworks(w http.ResponseWriter, r *http.Request) {
	gone, err := tugnet.Prune(srv.Store, srv.Defaults.Subnet)
	if err != nil {
		writeError(w, err)
		return
	}
	if gone == nil {
		gone = []string{}
	}
	writeJSON(w, http.StatusOK, network.PruneReport{NetworksDeleted: gone})
}

// connectNetwork and disconnectNetwork are network connect and
// disconnect, for a container that runs or not.
func (srv *server) connectNetwork(w http.ResponseWriter, r *http.Request) {
	var req network.ConnectRequest
	srv.onNetworkContainer(w, r, &req, &req.Container, func(rec *tugnet.Record, c *store.Container) error {
		ip, aliases := endpoint(req.EndpointConfig)
		return run.Connect(srv.Store, c, rec.Name, ip, aliases, srv.Defaults.Subnet)
	})
}

func (srv *server) disconnectNetwork(w http.ResponseWriter, r *http.Request) {
	var req network.DisconnectRequest
	srv.onNetworkContainer(w, r, &req, &req.Container, func(rec *tugnet.Record, c *store.Container) error {
		return run.Disconnect(srv.Store, c, rec.Name, srv.Defaults.Subnet)
	})
}

// onNetworkContainer decodes req, finds the network of the path and the
// container the body names, and runs f on them.
func (srv *server) onNetworkContainer(w http.ResponseWriter, r *http.Request, req any, ref *string, f func(*tugnet.Record, *store.Container) error) {
	err := decodeBody(r, req)
	var rec *tugnet.Record
	if err == nil {
		rec, err = srv.lookupNetwork(r.PathValue("id"))
	}
	var c *store.Container
	if err == nil {
		c, err = srv.Store.LookupContainer(*ref)
	}
	if err == nil {
		err = f(rec, c)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// endpoint is the address and aliases an endpoint's settings ask for.
func endpoint(e *network.EndpointSettings) (ip string, aliases []string) {
	if e == nil {
		return "", nil
	}
	if e.IPAMConfig != nil && e.IPAMConfig.IPv4Address.IsValid() {
		ip = e.IPAMConfig.IPv4Address.String()
	}
	return ip, e.Aliases
}
