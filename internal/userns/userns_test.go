package userns

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSubIDs(t *testing.T) {
	file := `# comment
alice:100000:65536
1001:300000:1000
bob:200000:65536
alice:500000:10
alice:bad:10
alice:600000:0
`
	got, err := parseSubIDs(strings.NewReader(file), "alice", 1001)
	if err != nil {
		t.Fatal(err)
	}
	want := []SubRange{{100000, 65536}, {300000, 1000}, {500000, 10}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("alice's ranges: %v, want %v", got, want)
	}
	if got, _ := parseSubIDs(strings.NewReader(file), "carol", 1002); len(got) != 0 {
		t.Errorf("carol's ranges: %v, want none", got)
	}
}

func TestPlan(t *testing.T) {
	m := Plan(1001, 1002, []SubRange{{100000, 65536}, {500000, 10}}, []SubRange{{200000, 65536}})
	if m.Single {
		t.Error("ranges given, yet a single-ID plan")
	}
	if want := "0 1001 1\n1 100000 65536\n65537 500000 10\n"; render(m.UIDs) != want {
		t.Errorf("uid map:\n%s\nwant:\n%s", render(m.UIDs), want)
	}
	if want := "0 1002 1\n1 200000 65536\n"; render(m.GIDs) != want {
		t.Errorf("gid map:\n%s\nwant:\n%s", render(m.GIDs), want)
	}
	single := Plan(1001, 1002, []SubRange{{100000, 65536}}, nil)
	if !single.Single || render(single.UIDs) != "0 1001 1\n" || render(single.GIDs) != "0 1002 1\n" {
		t.Errorf("no subgid range: %+v, want the single-ID fallback", single)
	}
}

func TestOutside(t *testing.T) {
	m := Plan(1001, 1002, []SubRange{{100000, 65536}}, []SubRange{{200000, 65536}})
	for _, tc := range []struct{ in, want int }{{0, 1001}, {1, 100000}, {1000, 100999}, {65536, 165535}, {70000, 70000}} {
		if got := outside(m.UIDs, tc.in); got != tc.want {
			t.Errorf("uid %d inside: %d outside, want %d", tc.in, got, tc.want)
		}
	}
	if !(Map{UIDs: []Range{{0, 0, 4294967295}}}).Identity() || m.Identity() {
		t.Error("Identity: the initial namespace's map only")
	}
}
