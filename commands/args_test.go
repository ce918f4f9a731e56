package commands

import (
	"strings"
	"testing"
)

func TestInterspersed(t *testing.T) {
	app := App()
	for in, want := range map[string]string{
		"tug save busybox -o x.tar":                     "tug save -o x.tar busybox",
		"tug inspect web --format {{.State.Status}}":    "tug inspect --format {{.State.Status}} web",
		"tug images busybox --format x -a":              "tug images --format x -a busybox",
		"tug export web -o w.tar":                       "tug export -o w.tar web",
		"tug rm a -f b":                                 "tug rm -f a b",
		"tug rm -f a -- -b --c":                         "tug rm -f -- a -b --c",
		"tug logs web --tail=5 -f":                      "tug logs --tail=5 -f web",
		"tug network create front --subnet 10.1.0.0/24": "tug network create --subnet 10.1.0.0/24 front",
		"tug container inspect web -f {{.Id}}":          "tug container inspect -f {{.Id}} web",
		"tug --root /r ps -a --format x":                "tug --root /r ps -a --format x",
		"tug --log-level debug images busybox -q":       "tug --log-level debug images -q busybox",
		"tug load - -q":                                 "tug load -q -",
		"tug ps -aq":                                    "tug ps -aq",
		// the rest belongs to the container's process
		"tug run --rm busybox ls -l":          "tug run --rm busybox ls -l",
		"tug run -e A=1 busybox sh -c echo":   "tug run -e A=1 busybox sh -c echo",
		"tug container run busybox echo --rm": "tug container run busybox echo --rm",
		"tug exec -it web sh -c ls":           "tug exec -it web sh -c ls",
		"tug top web aux -o pid":              "tug top web aux -o pid",
		"tug unshare ls -l":                   "tug unshare ls -l",
		"tug create --name x busybox --help":  "tug create --name x busybox --help",
		"tug bogus a -x":                      "tug bogus a -x",
		"tug network":                         "tug network",
	} {
		got := strings.Join(interspersed(app, strings.Fields(in)), " ")
		if got != want {
			t.Errorf("%s\n got %s\nwant %s", in, got, want)
		}
	}
}
