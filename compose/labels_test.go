package compose

import (
	"testing"

	"tug/compose/plan"
)

// TestConfigHash: what makes a container changes the hash, so up
// recreates it; scale and depends_on do not, nor does anything twice.
func TestConfigHash(t *testing.T) {
	base := plan.Service{Name: "web", Image: "busybox", Env: []string{"A=1"}, Scale: 1}
	h := configHash(base, "sha256:1")
	for _, tc := range []struct {
		what  string
		edit  func(*plan.Service)
		image string
		same  bool
	}{
		{"nothing", func(*plan.Service) {}, "sha256:1", true},
		{"scale", func(s *plan.Service) { s.Scale = 3 }, "sha256:1", true},
		{"depends_on", func(s *plan.Service) { s.DependsOn = []plan.Dependency{{Service: "db"}} }, "sha256:1", true},
		{"env", func(s *plan.Service) { s.Env = []string{"A=2"} }, "sha256:1", false},
		{"ports", func(s *plan.Service) { s.Ports = []string{"80"} }, "sha256:1", false},
		{"the image", func(*plan.Service) {}, "sha256:2", false},
	} {
		svc := base
		tc.edit(&svc)
		if got := configHash(svc, tc.image) == h; got != tc.same {
			t.Errorf("%s: same hash %v, want %v", tc.what, got, tc.same)
		}
	}
}
