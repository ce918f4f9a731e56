package pull

import (
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestApplyChanges(t *testing.T) {
	var cfg v1.Config
	err := applyChanges(&cfg, []string{
		`CMD ["cat", "/f"]`, "ENTRYPOINT echo hi", "ENV A=1", "ENV B 2", "EXPOSE 80 53/udp",
		`LABEL k="v"`, "USER app", "WORKDIR /w", "VOLUME /data /logs", `VOLUME ["/x"]`, "STOPSIGNAL SIGINT",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := v1.Config{
		Cmd: []string{"cat", "/f"}, Entrypoint: []string{"/bin/sh", "-c", "echo hi"}, Env: []string{"A=1", "B=2"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}}, Labels: map[string]string{"k": "v"},
		User: "app", WorkingDir: "/w", Volumes: map[string]struct{}{"/data": {}, "/logs": {}, "/x": {}}, StopSignal: "SIGINT",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
	if err := applyChanges(&cfg, []string{"RUN rm -rf /"}); err == nil {
		t.Error("RUN accepted")
	}
}
