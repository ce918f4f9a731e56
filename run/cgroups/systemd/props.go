package systemd

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"tug/run/cgroups"
)

// infinity is systemd's "no limit" for the t-typed limits.
const infinity = math.MaxUint64

// Properties maps a container's limits onto the properties of its scope
// (systemd.resource-control(5)), the counterparts of what the cgroupfs
// driver writes into the cgroup's files. Accounting is on for the
// controllers tug reports from (stats), so systemd enables them. Per
// device rates go on the properties only where /dev/block names the
// device; rates returns the others, for the caller to write into io.max.
func Properties(r cgroups.Resources) (props []Property, rates []cgroups.Rate, err error) {
	props = []Property{
		Prop("MemoryAccounting", true), Prop("CPUAccounting", true),
		Prop("TasksAccounting", true), Prop("IOAccounting", true),
	}
	if r.Memory > 0 {
		props = append(props, Prop("MemoryMax", uint64(r.Memory)))
	}
	if r.MemoryReservation > 0 {
		props = append(props, Prop("MemoryLow", uint64(r.MemoryReservation)))
	}
	switch {
	case r.MemorySwap < 0:
		props = append(props, Prop("MemorySwapMax", uint64(infinity)))
	case r.MemorySwap > 0:
		props = append(props, Prop("MemorySwapMax", uint64(max(r.MemorySwap-r.Memory, 0))))
	}
	if r.CPUQuota > 0 {
		period := r.CPUPeriod
		if period == 0 {
			period = 100000
		}
		props = append(props, Prop("CPUQuotaPerSecUSec", uint64(r.CPUQuota*1000000/period)),
			Prop("CPUQuotaPeriodUSec", uint64(period)))
	}
	if r.CPUShares > 0 {
		props = append(props, Prop("CPUWeight", cgroups.CPUWeight(r.CPUShares)))
	}
	for _, set := range []struct{ name, list string }{{"AllowedCPUs", r.CpusetCpus}, {"AllowedMemoryNodes", r.CpusetMems}} {
		if set.list == "" {
			continue
		}
		mask, err := bitmask(set.list)
		if err != nil {
			return nil, nil, err
		}
		props = append(props, Prop(set.name, mask))
	}
	switch {
	case r.PidsLimit < 0:
		props = append(props, Prop("TasksMax", uint64(infinity)))
	case r.PidsLimit > 0:
		props = append(props, Prop("TasksMax", uint64(r.PidsLimit)))
	}
	if r.BlkioWeight > 0 {
		props = append(props, Prop("IOWeight", uint64(r.BlkioWeight)))
	}
	for _, dir := range []struct {
		name  string
		rates []cgroups.Rate
	}{{"IOReadBandwidthMax", r.DeviceReadBps}, {"IOWriteBandwidthMax", r.DeviceWriteBps}} {
		var named []deviceLimit
		for _, rt := range dir.rates {
			node := fmt.Sprintf("/dev/block/%d:%d", rt.Major, rt.Minor)
			if _, err := os.Stat(node); err != nil {
				rates = append(rates, rt)
				continue
			}
			named = append(named, deviceLimit{node, rt.Bytes})
		}
		if len(named) > 0 {
			props = append(props, Prop(dir.name, named))
		}
	}
	return props, rates, nil
}

// deviceLimit is one entry of an IO…BandwidthMax property: a(st).
type deviceLimit struct {
	Path  string
	Bytes uint64
}

// bitmask turns a cpuset list ("0-2,5") into systemd's byte mask: bit j
// of byte i is CPU (or node) 8i+j.
func bitmask(list string) ([]byte, error) {
	var mask []byte
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		first, err := strconv.Atoi(lo)
		last := first
		if err == nil && isRange {
			last, err = strconv.Atoi(hi)
		}
		if err != nil || first < 0 || last < first || last > 8191 {
			return nil, fmt.Errorf("cpuset %q: not a list of numbers and ranges", list)
		}
		for n := first; n <= last; n++ {
			for len(mask) <= n/8 {
				mask = append(mask, 0)
			}
			mask[n/8] |= 1 << (n % 8)
		}
	}
	return mask, nil
}
