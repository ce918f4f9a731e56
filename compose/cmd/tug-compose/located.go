package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// compose-go's messages for a file the schema refuses (the file, the
// field's path, what is wrong) and for a value of the wrong type (the
// path, with [] for any item of a list).
var (
	schemaError      = regexp.MustCompile(`^validating (.+?): ([^ ]+) (.+)$`)
	interpolateError = regexp.MustCompile(`^error while interpolating ([^ :]+): (.+)$`)
)

// located adds the file and line of the field to compose-go's errors,
// which name the field's path and at most the file: FILE:LINE: PATH:
// WHY. files are the project's, where the line is looked for.
func located(err error, files []string) error {
	msg := err.Error()
	if m := schemaError.FindStringSubmatch(msg); m != nil {
		why := m[3]
		if why == "false schema" { // the schema allows no such field
			why = "no such field in a compose file"
		}
		return at([]string{m[1]}, m[2], why)
	}
	if m := interpolateError.FindStringSubmatch(msg); m != nil {
		return at(files, m[1], m[2])
	}
	if strings.HasPrefix(msg, "yaml: ") && len(files) == 1 {
		return fmt.Errorf("%s: %s", files[0], msg)
	}
	return err
}

// at is why, located at path's line in the first of files that has it.
func at(files []string, path, why string) error {
	for _, f := range files {
		if line := lineOf(f, strings.Split(path, ".")); line > 0 {
			return fmt.Errorf("%s:%d: %s: %s", f, line, path, why)
		}
	}
	if len(files) > 0 {
		return fmt.Errorf("%s: %s: %s", files[0], path, why)
	}
	return fmt.Errorf("%s: %s", path, why)
}

// lineOf is the line of the deepest node of path in the YAML file, 0
// if the file cannot be read.
func lineOf(file string, path []string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	node, line := doc.Content[0], 0
	for _, key := range path {
		next := child(node, key)
		if next == nil {
			break
		}
		node, line = next.value, next.line
	}
	return line
}

// entry is a node found on a path, and the line of its key.
type entry struct {
	value *yaml.Node
	line  int
}

// child is key's entry of a mapping node, or index key of a sequence.
func child(node *yaml.Node, key string) *entry {
	switch node.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == key {
				return &entry{node.Content[i+1], node.Content[i].Line}
			}
		}
	case yaml.SequenceNode:
		if key == "[]" && len(node.Content) > 0 { // any item: the first
			return &entry{node.Content[0], node.Content[0].Line}
		}
		if i, err := strconv.Atoi(key); err == nil && i >= 0 && i < len(node.Content) {
			return &entry{node.Content[i], node.Content[i].Line}
		}
	}
	return nil
}
