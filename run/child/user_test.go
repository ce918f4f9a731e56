package child

import (
	"reflect"
	"strings"
	"testing"
)

const passwd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
evil:x:4294967296:0:wraps to root:/:/bin/sh
evilgid:x:1001:4294967296:wraps to root:/:/bin/sh
broken line
`

const group = `root:x:0:
wheel:x:10:app,other
app:x:1000:
audio:x:29:app
evilgroup:x:4294967296:app
`

func TestResolveUser(t *testing.T) {
	cases := map[string]Identity{
		"":          {UID: 0, GID: 0, Home: "/root"},
		"root":      {UID: 0, GID: 0, Home: "/root"},
		"app":       {UID: 1000, GID: 1000, Groups: []int{10, 29}, Home: "/home/app"},
		"1000":      {UID: 1000, GID: 1000, Groups: []int{10, 29}, Home: "/home/app"},
		"app:wheel": {UID: 1000, GID: 10, Groups: []int{29}, Home: "/home/app"},
		"1000:50":   {UID: 1000, GID: 50, Groups: []int{10, 29}, Home: "/home/app"},
		"4242":      {UID: 4242, GID: 0, Home: "/"},
		"4242:4242": {UID: 4242, GID: 4242, Home: "/"},
		"daemon":    {UID: 1, GID: 1, Home: "/usr/sbin"},
	}
	for spec, want := range cases {
		got, err := ResolveUser(spec, strings.NewReader(passwd), strings.NewReader(group))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %+v, %v; want %+v", spec, got, err, want)
		}
	}
	// IDs past 2^32-2 wrap in the kernel (4294967296 is root): refused,
	// typed by the user or read from the image's files
	for _, bad := range []string{"nobody", "app:nogroup", "-1", "1:-1", "4294967296", "4294967295", "1000:4294967296",
		"4294968296", "99999999999999999999", "evil", "evilgid", "app:evilgroup"} {
		if _, err := ResolveUser(bad, strings.NewReader(passwd), strings.NewReader(group)); err == nil {
			t.Errorf("%q resolved", bad)
		}
	}
	if got, err := ResolveUser("7:8", nil, nil); err != nil || got.UID != 7 || got.GID != 8 {
		t.Errorf("no passwd file: %+v %v", got, err)
	}
}
