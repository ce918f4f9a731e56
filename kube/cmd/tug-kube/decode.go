package main

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// document is one YAML document of the input, as a node tree (for the
// lines of errors) and as JSON (for the strict decode).
type document struct {
	index int // 1-based, as people count
	file  string
	node  *yamlv3.Node
	json  []byte
}

// splitDocuments reads every YAML document of r; empty ones are left
// out, but counted.
func splitDocuments(file string, r io.Reader) ([]document, error) {
	dec := yamlv3.NewDecoder(r)
	var docs []document
	for i := 1; ; i++ {
		var n yamlv3.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: not YAML: %w", file, i, err)
		}
		if len(n.Content) == 0 || n.Content[0].Kind == yamlv3.ScalarNode && n.Content[0].Tag == "!!null" {
			continue
		}
		raw, err := yamlv3.Marshal(&n)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i, err)
		}
		j, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i, err)
		}
		docs = append(docs, document{index: i, file: file, node: &n, json: j})
	}
}

// kindOf is the document's apiVersion and kind.
func (d document) kindOf() (apiVersion, kind string, err error) {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(d.json, &tm); err != nil {
		return "", "", d.errorf("", "%v", err)
	}
	if tm.Kind == "" || tm.APIVersion == "" {
		return "", "", d.errorf("kind", "not a Kubernetes object: it needs apiVersion and kind")
	}
	return tm.APIVersion, tm.Kind, nil
}

// decode decodes the document into v strictly: an unknown or duplicate
// field, or a value of the wrong type, is an error naming the field and
// its line.
func (d document) decode(v any) error {
	strict, err := kjson.UnmarshalStrict(d.json, v)
	if err != nil {
		return d.errorf(fieldOf(err.Error()), "%s", cleanJSONError(err.Error()))
	}
	if len(strict) > 0 {
		msg := strict[0].Error()
		return d.errorf(fieldOf(msg), "%s", msg)
	}
	return nil
}

// errorf is an error of the document at field's line (a path such as
// spec.containers[0].image; "" for the document's first line).
func (d document) errorf(field, format string, args ...any) error {
	line := d.node.Line
	if n := lookup(d.node, field); n != nil {
		line = n.Line
	}
	where := fmt.Sprintf("%s: document %d, line %d", d.file, d.index, line)
	if field != "" {
		where += ", field " + field
	}
	return fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...))
}

// fieldQuoted and fieldStruct find the field a decode error names:
// `unknown field "spec.x"`, or `Go struct field Pod.spec.x of type`.
var (
	fieldQuoted = regexp.MustCompile(`field "([^"]+)"`)
	fieldStruct = regexp.MustCompile(`Go struct field [A-Za-z0-9_]+\.([A-Za-z0-9_.\[\]]+) of type`)
)

func fieldOf(msg string) string {
	for _, re := range []*regexp.Regexp{fieldQuoted, fieldStruct} {
		if m := re.FindStringSubmatch(msg); m != nil {
			return m[1]
		}
	}
	return ""
}

// cleanJSONError words a type error for a YAML reader: "json:" and Go's
// struct names are not theirs.
func cleanJSONError(msg string) string {
	msg = strings.TrimPrefix(msg, "json: ")
	if m := fieldStruct.FindStringSubmatchIndex(msg); m != nil {
		msg = msg[:m[0]] + "field " + msg[m[2]:m[3]] + " of type" + msg[m[1]:]
	}
	return msg
}

// lookup walks path (a.b[2].c; a list's index may be missing, for the
// first item) through the node tree to the key node, or nil.
func lookup(doc *yamlv3.Node, path string) *yamlv3.Node {
	if path == "" || len(doc.Content) == 0 {
		return nil
	}
	n := doc.Content[0]
	var found *yamlv3.Node
	for _, part := range strings.Split(path, ".") {
		name, index := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			name = part[:i]
			index, _ = strconv.Atoi(strings.Trim(part[i:], "[]"))
		}
		if n.Kind == yamlv3.SequenceNode && len(n.Content) > 0 {
			n = n.Content[0] // a list with no index in the path: its first item
		}
		key, value := mapEntry(n, name)
		if key == nil {
			return found
		}
		found, n = key, value
		if index >= 0 && n.Kind == yamlv3.SequenceNode && index < len(n.Content) {
			n = n.Content[index]
			found = n
		}
	}
	return found
}

// mapEntry is the key and value nodes of name in mapping n.
func mapEntry(n *yamlv3.Node, name string) (key, value *yamlv3.Node) {
	if n.Kind != yamlv3.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}
