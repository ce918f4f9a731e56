package run

import (
	"maps"

	"tug/store"
)

// emit records an event of container c: its name, image and labels as
// attributes, as docker's have them, with extra.
func emit(s *store.Store, c *store.Container, action string, extra map[string]string) {
	attrs := map[string]string{}
	maps.Copy(attrs, c.Labels)
	attrs["name"], attrs["image"] = c.Name, c.ImageName
	maps.Copy(attrs, extra)
	s.Emit("container", action, c.ID, attrs)
}
