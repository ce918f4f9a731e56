package pull

import (
	"errors"
	"fmt"

	"tug/store"
)

// Policy is docker's --pull: missing pulls only when the image is
// absent, always pulls every time, never only looks.
type Policy string

// The pull policies.
const (
	PullMissing Policy = "missing"
	PullAlways  Policy = "always"
	PullNever   Policy = "never"
)

// ParsePolicy checks --pull.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case PullMissing, PullAlways, PullNever:
		return p, nil
	}
	return "", fmt.Errorf("--pull %q: want missing, always or never", s)
}

// Needed finds ref in the store and says whether the policy wants it
// pulled; with nothing to pull, the image is the stored one.
func (p Policy) Needed(s *store.Store, ref string) (*store.Image, bool, error) {
	img, err := s.LookupImage(ref)
	switch {
	case err == nil:
		return img, p == PullAlways, nil
	case errors.Is(err, store.ErrNotFound) && p != PullNever:
		return nil, true, nil
	}
	return nil, false, err
}
