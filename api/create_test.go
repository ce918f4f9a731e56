package api

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"

	"tug/run"
)

// TestOptions: a create request, as the docker CLI sends one for
// `docker run -d --name web -p 127.0.0.1:8080:80 -v /h:/c:ro
// --mount type=tmpfs,... -e A=1 -l k=v --restart on-failure:3
// --memory 64m --cpus 1.5 --pids-limit 50 --network front --network-alias
// w --health-cmd ...`, becomes tug create's options.
func TestOptions(t *testing.T) {
	body := `{
		"Image": "busybox", "Cmd": ["httpd", "-f"], "Env": ["A=1"], "Labels": {"k": "v", "a": "b"},
		"WorkingDir": "/srv", "User": "1000", "Tty": false, "OpenStdin": true, "StopSignal": "SIGINT",
		"Entrypoint": [], "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 2000000000, "Retries": 2},
		"HostConfig": {
			"Binds": ["/h:/c:ro"], "AutoRemove": true, "NetworkMode": "front", "Init": true,
			"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "53/udp": [{"HostIp": "", "HostPort": ""}], "81/tcp": [{"HostIp": "0.0.0.0", "HostPort": ""}], "82/tcp": [{"HostPort": "9090"}]},
			"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
			"Memory": 67108864, "NanoCpus": 1500000000, "PidsLimit": 50, "CpuShares": 512,
			"CapAdd": ["NET_ADMIN"], "CapDrop": ["MKNOD"], "SecurityOpt": ["no-new-privileges"],
			"Tmpfs": {"/run": "size=1m"}, "ShmSize": 1048576, "Sysctls": {"net.ipv4.ip_forward": "1"},
			"ExtraHosts": ["h:10.0.0.1"], "Dns": ["10.0.0.53"], "VolumesFrom": ["other:ro"],
			"Mounts": [{"Type": "tmpfs", "Target": "/cache", "TmpfsOptions": {"SizeBytes": 4096}}],
			"Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}], "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
			"Links": ["x:y"], "ConsoleSize": [24, 80]
		},
		"NetworkingConfig": {"EndpointsConfig": {"front": {"Aliases": ["w"], "IPAMConfig": {"IPv4Address": "10.89.0.9"}}}}
	}`
	var req container.CreateRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	srv := &server{Options: Options{Defaults: run.Options{Subnet: "10.88.0.0/16"}}}
	opt, warnings, err := srv.options("web", &req)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"name", opt.Name, "web"},
		{"cmd", opt.Cmd, []string{"httpd", "-f"}},
		{"entrypoint", opt.EntrypointSet && len(opt.Entrypoint) == 0, true},
		{"env", opt.Env, []string{"A=1"}},
		{"labels", opt.Labels, []string{"a=b", "k=v"}},
		{"workdir user", opt.Workdir + " " + opt.User, "/srv 1000"},
		{"interactive", opt.Interactive, true},
		{"stop signal", opt.StopSignal, "SIGINT"},
		{"binds", opt.Volumes, []string{"/h:/c:ro"}},
		{"rm init", opt.AutoRemove && opt.Init, true},
		{"network", opt.Network, "front"},
		{"aliases", opt.Aliases, []string{"w"}},
		{"ip", opt.IP, "10.89.0.9"},
		{"restart", opt.Restart, "on-failure:3"},
		{"memory", opt.Limits.Memory, "67108864"},
		{"cpus", opt.Limits.Cpus, "1.5"},
		{"pids", opt.Limits.PidsLimit, int64(50)},
		{"shares", opt.Limits.CPUShares, int64(512)},
		{"caps", append(opt.Security.CapAdd, opt.Security.CapDrop...), []string{"NET_ADMIN", "MKNOD"}},
		{"security opt", opt.Security.SecurityOpts, []string{"no-new-privileges"}},
		{"tmpfs", opt.Security.Tmpfs, []string{"/run:size=1m"}},
		{"shm", opt.Security.ShmSize, "1048576"},
		{"sysctls", opt.Security.Sysctls, []string{"net.ipv4.ip_forward=1"}},
		{"ulimits", opt.Security.Ulimits, []string{"nofile=100:200"}},
		{"hosts dns", append(opt.AddHosts, opt.DNS...), []string{"h:10.0.0.1", "10.0.0.53"}},
		{"volumes from", opt.VolumesFrom, []string{"other:ro"}},
		{"mounts", opt.Mounts, []string{"type=tmpfs,destination=/cache,tmpfs-size=4096"}},
		{"log driver", opt.LogDriver + " " + opt.LogOpts[0], " max-size=1m"},
		{"health", opt.Health.Cmd, `["CMD-SHELL","true"]`},
		{"health retries", opt.Health.Retries, 2},
		{"subnet from the config", opt.Subnet, "10.88.0.0/16"},
		{"console size", opt.ConsoleSize, [2]uint16{24, 80}},
		{"warnings", warnings, []string{"tug ignores HostConfig.Links"}},
	} {
		if !equal(c.got, c.want) {
			t.Errorf("%s: %#v, want %#v", c.what, c.got, c.want)
		}
	}
	ports := slices.Sorted(slices.Values(opt.Publish))
	if !slices.Equal(ports, []string{"0.0.0.0::81/tcp", "127.0.0.1:8080:80/tcp", "53/udp", "9090:82/tcp"}) {
		t.Errorf("publish: %q", ports)
	}
}

// equal compares the figures of TestOptions, slices by their elements.
func equal(a, b any) bool {
	as, aok := a.([]string)
	bs, bok := b.([]string)
	if aok && bok {
		return slices.Equal(as, bs)
	}
	return a == b
}
