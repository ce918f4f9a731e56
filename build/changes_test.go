package build

import (
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestChanges(t *testing.T) {
	base := func() v1.Config {
		return v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin", "A=0"}, WorkingDir: "/srv"}
	}
	for _, tc := range []struct {
		changes []string
		want    func(*v1.Config)
		err     string
	}{
		{changes: []string{`CMD ["echo", "hi"]`}, want: func(c *v1.Config) { c.Cmd = []string{"echo", "hi"} }},
		{changes: []string{`cmd echo hi`}, want: func(c *v1.Config) { c.Cmd = []string{"/bin/sh", "-c", "echo hi"} }},
		{changes: []string{"ENV A=1 B=2", "WORKDIR sub", "USER 1000"}, want: func(c *v1.Config) {
			c.Env, c.WorkingDir, c.User = []string{"PATH=/bin", "A=1", "B=2"}, "/srv/sub", "1000"
		}},
		// docker: an ENTRYPOINT drops the image's CMD, unless a CMD is set too
		{changes: []string{`ENTRYPOINT ["top"]`}, want: func(c *v1.Config) { c.Entrypoint, c.Cmd = []string{"top"}, nil }},
		{changes: []string{`CMD ["-b"]`, `ENTRYPOINT ["top"]`}, want: func(c *v1.Config) { c.Entrypoint, c.Cmd = []string{"top"}, []string{"-b"} }},
		{changes: []string{"EXPOSE 80 53/udp", "VOLUME /data", "LABEL a=b", "STOPSIGNAL SIGINT"}, want: func(c *v1.Config) {
			c.ExposedPorts = map[string]struct{}{"80/tcp": {}, "53/udp": {}}
			c.Volumes = map[string]struct{}{"/data": {}}
			c.Labels, c.StopSignal = map[string]string{"a": "b"}, "SIGINT"
		}},
		{changes: []string{"RUN rm -rf /"}, err: "RUN cannot be changed by commit"},
		{changes: []string{"FROM busybox"}, err: "FROM cannot be changed by commit"},
		{changes: []string{"COPY a /a"}, err: "COPY cannot be changed by commit"},
		{changes: []string{"ENV"}, err: `--change "ENV"`},
		{changes: []string{"CMD a\nCMD b"}, err: "want one instruction"},
	} {
		apply, err := Changes(tc.changes)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.changes, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.changes, err)
			continue
		}
		got, want := base(), base()
		apply(&got)
		tc.want(&want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.changes, got, want)
		}
	}
}
