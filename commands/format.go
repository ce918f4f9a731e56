package commands

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"text/template"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// templateFuncs returns the functions docker offers in --format templates.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
		"join":  strings.Join,
		"title": func(s string) string {
			if s == "" {
				return s
			}
			return strings.ToUpper(s[:1]) + s[1:]
		},
		"truncate": func(s string, n int) string {
			if len(s) > n {
				return s[:n]
			}
			return s
		},
	}
}

// parseTemplate parses a user's --format template. A field that does not
// exist is an error, as in docker, also where the data is a map (the
// JSON of inspect): never "<no value>" for a script to carry on with.
func parseTemplate(format string) (*template.Template, error) {
	t, err := template.New("format").Funcs(templateFuncs()).Option("missingkey=error").Parse(format)
	if err != nil {
		return nil, fmt.Errorf("--format: %w", err)
	}
	return t, nil
}

// printRows prints a list verb's rows: with -q only their IDs (each once
// when distinct is set), otherwise as l says.
func printRows[T any](c *cli.Context, l listing, rows []T, id func(T) string, distinct bool) error {
	if c.Bool("quiet") {
		seen := map[string]bool{}
		for _, r := range rows {
			if k := id(r); !distinct || !seen[k] {
				seen[k] = true
				fmt.Println(k)
			}
		}
		return nil
	}
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = r
	}
	l.noHeading = c.Bool("noheading")
	return l.print(os.Stdout, out)
}

// noHeadingFlag is podman's --noheading of the list verbs.
func noHeadingFlag() cli.Flag {
	return &cli.BoolFlag{Name: "noheading", Usage: "print no header line"}
}

// listing prints rows the way docker's list verbs do. format is:
// "" for the default table, "json" for one JSON object per line,
// "table TEMPLATE" for a table with headers, or a template per row.
type listing struct {
	format    string
	table     string            // the default "table …" format
	headers   map[string]string // field name → column header
	noHeading bool
}

func (l listing) print(w io.Writer, rows []any) error {
	format := l.format
	if format == "" {
		format = l.table
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	body, isTable := strings.CutPrefix(format, "table")
	if !isTable {
		body = format
	}
	body = strings.TrimSpace(unescape(body))
	t, err := parseTemplate(body)
	if err != nil {
		return err
	}
	out := w
	var tw *tabwriter.Writer
	if isTable {
		tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		out = tw
		if !l.noHeading {
			if err := t.Execute(out, l.headers); err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			fmt.Fprintln(out)
		}
	}
	for _, r := range rows {
		if err := t.Execute(out, r); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(out)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// unescape turns the \t and \n people type in a shell into the real thing.
func unescape(s string) string {
	return strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(s)
}

// printJSON writes v as indented JSON, as docker's inspect does.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// isTerminal tells whether f is a terminal: decoration only goes there.
func isTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}

// asJSONValue turns v into the generic value its JSON decodes to, so that
// templates use the names JSON output shows.
func asJSONValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // sizes print as 1982365, not 1.982365e+06
	var out any
	err = dec.Decode(&out)
	return out, err
}

// printInspect prints inspect's objects: as one indented JSON array, or
// each through a Go template that sees the JSON fields, as docker's do
// ({{.Id}}).
func printInspect(w io.Writer, format string, views []any) error {
	if format == "" {
		return printJSON(w, append([]any{}, views...))
	}
	t, err := parseTemplate(unescape(format))
	if err != nil {
		return err
	}
	for _, v := range views {
		m, err := asJSONValue(v)
		if err != nil {
			return err
		}
		if err := t.Execute(w, m); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// printOne prints one object: as indented JSON for "json", through a Go
// template for any other format, and with plain when there is none.
func printOne(w io.Writer, format string, v any, plain func() error) error {
	switch format {
	case "":
		return plain()
	case "json":
		return printJSON(w, v)
	}
	t, err := parseTemplate(unescape(format))
	if err != nil {
		return err
	}
	if err := t.Execute(w, v); err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	_, err = fmt.Fprintln(w)
	return err
}
