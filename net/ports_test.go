package net

import (
	"fmt"
	"strings"
	"testing"
)

func TestParsePorts(t *testing.T) {
	show := func(ps []Port) string {
		var out []string
		for _, p := range ps {
			ip := ""
			if p.HostIP.IsValid() {
				ip = p.HostIP.String() + ":"
			}
			out = append(out, fmt.Sprintf("%s%d:%d/%s", ip, p.HostPort, p.ContainerPort, p.Proto))
		}
		return strings.Join(out, " ")
	}
	for in, want := range map[string]string{
		"80":                      "0:80/tcp",
		"8080:80":                 "8080:80/tcp",
		"127.0.0.1:8080:80/udp":   "127.0.0.1:8080:80/udp",
		"127.0.0.1::80":           "127.0.0.1:0:80/tcp",
		"8080-8082:8080-8082":     "8080:8080/tcp 8081:8081/tcp 8082:8082/tcp",
		"9000-9001:80-81/udp":     "9000:80/udp 9001:81/udp",
		"80-81":                   "0:80/tcp 0:81/tcp",
		"127.0.0.1:7000-7001:1-2": "127.0.0.1:7000:1/tcp 127.0.0.1:7001:2/tcp",
		"8080-8082:80":            "",
		"82-80":                   "",
		"0:80":                    "0:80/tcp",
		"80/sctp":                 "",
		"1:2:3:4":                 "",
		"::1:80:80":               "",
		"70000":                   "",
		"8080-:80":                "",
	} {
		got, err := ParsePorts([]string{in})
		if (err != nil) != (want == "") || show(got) != want {
			t.Errorf("%s: %q, %v; want %q", in, show(got), err, want)
		}
	}
}
