package run

import (
	"bytes"
	"testing"
)

func TestParseDetachKeys(t *testing.T) {
	for in, want := range map[string][]byte{
		"ctrl-p,ctrl-q": {0x10, 0x11},
		"ctrl-a,x":      {0x01, 'x'},
		"ctrl-@,ctrl-_": {0x00, 0x1f},
		"ctrl-\\":       {0x1c},
		"":              nil,
	} {
		got, err := ParseDetachKeys(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"ctrl-1", "ctrl-", "xy", "ctrl-p,,ctrl-q"} {
		if _, err := ParseDetachKeys(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestNextMatch(t *testing.T) {
	keys := []byte{0x10, 0x11}
	m := 0
	for _, b := range []byte{'a', 0x10, 0x10, 0x11} { // a repeated first key still counts
		m = nextMatch(keys, m, b)
	}
	if m != 2 {
		t.Errorf("matched %d of the keys", m)
	}
	if m := nextMatch(keys, nextMatch(keys, 0, 0x10), 'x'); m != 0 {
		t.Errorf("an interrupted sequence left %d matched", m)
	}
}
