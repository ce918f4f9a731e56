package ids

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true},
		{"1000", 1000, true},
		{"4294967294", 4294967294, true},
		{"4294967295", 0, false}, // (uid_t)-1: "unchanged"
		{"4294967296", 0, false}, // wraps to 0, root
		{"4294968296", 0, false}, // wraps to 1000
		{"99999999999999999999999", 0, false},
		{"-1", 0, false},
		{"+5", 0, false},
		{"", 0, false},
		{"root", 0, false},
	} {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for n, ok := range map[int64]bool{0: true, Max: true, Max + 1: false, 1 << 32: false, -1: false} {
		if err := Check(n); (err == nil) != ok {
			t.Errorf("Check(%d) = %v", n, err)
		}
	}
	for s, num := range map[string]bool{"123": true, "4294967296": true, "": false, "12a": false, "-1": false, "app": false} {
		if IsNumeric(s) != num {
			t.Errorf("IsNumeric(%q) != %v", s, num)
		}
	}
}
