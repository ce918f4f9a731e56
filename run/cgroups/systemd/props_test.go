package systemd

import (
	"bytes"
	"fmt"
	"testing"

	"tug/run/cgroups"
)

func TestBitmask(t *testing.T) {
	for _, tc := range []struct {
		list string
		want []byte
		bad  bool
	}{
		{list: "0", want: []byte{0x01}},
		{list: "0-2,5", want: []byte{0x27}},
		{list: "9", want: []byte{0x00, 0x02}},
		{list: " 1 , 3-3", want: []byte{0x0a}},
		{list: "2-1", bad: true},
		{list: "x", bad: true},
		{list: "-1", bad: true},
		{list: "", bad: true},
	} {
		got, err := bitmask(tc.list)
		if (err != nil) != tc.bad || !bytes.Equal(got, tc.want) {
			t.Errorf("bitmask(%q) = %x, %v; want %x (error %v)", tc.list, got, err, tc.want, tc.bad)
		}
	}
}

func TestProperties(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    cgroups.Resources
		want map[string]string
	}{
		{"memory", cgroups.Resources{Memory: 64 << 20, MemoryReservation: 32 << 20, MemorySwap: 96 << 20},
			map[string]string{"MemoryMax": "67108864", "MemoryLow": "33554432", "MemorySwapMax": "33554432"}},
		{"unlimited", cgroups.Resources{MemorySwap: -1, PidsLimit: -1},
			map[string]string{"MemorySwapMax": "18446744073709551615", "TasksMax": "18446744073709551615"}},
		{"cpus", cgroups.Resources{CPUQuota: 50000, CPUPeriod: 100000, CPUShares: 1024},
			map[string]string{"CPUQuotaPerSecUSec": "500000", "CPUQuotaPeriodUSec": "100000", "CPUWeight": "39"}},
		{"default period", cgroups.Resources{CPUQuota: 150000}, map[string]string{"CPUQuotaPerSecUSec": "1500000", "CPUQuotaPeriodUSec": "100000"}},
		{"cpuset", cgroups.Resources{CpusetCpus: "0-1", CpusetMems: "0"},
			map[string]string{"AllowedCPUs": "[3]", "AllowedMemoryNodes": "[1]"}},
		{"pids and io", cgroups.Resources{PidsLimit: 10, BlkioWeight: 300},
			map[string]string{"TasksMax": "10", "IOWeight": "300"}},
	} {
		props, _, err := Properties(tc.r)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := map[string]string{}
		for _, p := range props {
			got[p.Name] = fmt.Sprint(p.Value.Value())
		}
		if got["MemoryAccounting"] != "true" || got["CPUAccounting"] != "true" {
			t.Errorf("%s: accounting not on: %v", tc.name, got)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, got[k], v)
			}
		}
		if len(got) != len(tc.want)+4 {
			t.Errorf("%s: properties %v, want only %v and accounting", tc.name, got, tc.want)
		}
	}
}

func TestRatesWithoutNode(t *testing.T) {
	r := cgroups.Resources{DeviceReadBps: []cgroups.Rate{{Major: 4095, Minor: 4095, Bytes: 1 << 20}}}
	props, rates, err := Properties(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(rates) != 1 || len(props) != 4 {
		t.Errorf("a device /dev/block does not name: rates %v, props %v; want it left for io.max", rates, props)
	}
}

func TestSocket(t *testing.T) {
	env := func(v string) func(string) string { return func(string) string { return v } }
	for _, tc := range []struct {
		user bool
		xdg  string
		want string
	}{
		{false, "/run/user/5", "/run/systemd/private"},
		{true, "/run/user/5", "/run/user/5/systemd/private"},
		{true, "", "/run/user/1000/systemd/private"},
	} {
		if got := Socket(tc.user, 1000, env(tc.xdg)); got != tc.want {
			t.Errorf("Socket(%v, XDG_RUNTIME_DIR=%q) = %s, want %s", tc.user, tc.xdg, got, tc.want)
		}
	}
}
