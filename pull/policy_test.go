package pull

import (
	"errors"
	"testing"

	"tug/store"
)

func TestPolicy(t *testing.T) {
	s := openStore(t)
	if _, err := s.AddImage(t.Context(), twoLayerImage(t), store.AddOptions{Names: []string{"docker.io/library/here:latest"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		policy, ref    string
		found, pulling bool
		err            error
	}{
		{"missing", "here", true, false, nil},
		{"missing", "absent", false, true, nil},
		{"always", "here", true, true, nil},
		{"always", "absent", false, true, nil},
		{"never", "here", true, false, nil},
		{"never", "absent", false, false, store.ErrNotFound},
	} {
		p, err := ParsePolicy(tc.policy)
		if err != nil {
			t.Fatal(err)
		}
		img, pulling, err := p.Needed(s, tc.ref)
		if (img != nil) != tc.found || pulling != tc.pulling || !errors.Is(err, tc.err) || (err != nil) != (tc.err != nil) {
			t.Errorf("%s %s: image %v, pull %v, %v", tc.policy, tc.ref, img != nil, pulling, err)
		}
	}
	if _, err := ParsePolicy("sometimes"); err == nil {
		t.Error("--pull sometimes accepted")
	}
}
