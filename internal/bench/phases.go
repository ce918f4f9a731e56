package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"tug/internal/phase"
)

// startPhases prints where a `tug run --rm --network none` start's time
// goes: each mark of tug's and of its re-exec child (TUG_PHASES, in a
// tmpfs file so that the marks cost little), as the median time from
// the mark before it over runs, the first from the bench's exec of tug.
func startPhases(t engine, ref string, runs int) error {
	dir, err := os.MkdirTemp("/dev/shm", "tug-phases")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var order []string
	steps := map[string][]float64{}
	for i := 0; i < runs+1; i++ {
		file := filepath.Join(dir, fmt.Sprintf("run-%d", i))
		cmd := t.command(t.run("--rm", "--network", "none", ref, "true"))
		cmd.Env = append(cmd.Env, phase.Env+"="+file)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("tug run with phases: %v: %s", err, out)
		}
		end := time.Now()
		marks, err := readPhases(file)
		if err != nil {
			return err
		}
		if i == 0 { // warms the caches; its marks give the order
			for _, m := range marks {
				order = append(order, m.Role+":"+m.Name)
			}
			continue
		}
		prev := start
		for _, m := range marks {
			key := m.Role + ":" + m.Name
			steps[key] = append(steps[key], m.At.Sub(prev).Seconds())
			prev = m.At
		}
		steps["(tug's exit, wait4)"] = append(steps["(tug's exit, wait4)"], end.Sub(prev).Seconds())
	}
	fmt.Printf("tug run --rm --network none, by phase (median ms from the mark before; median of %d):\n", runs)
	total := 0.0
	for _, key := range append(order, "(tug's exit, wait4)") {
		ms := medianOf(steps[key]) * 1000
		total += ms
		fmt.Printf("  %-24s %6.2f\n", key, ms)
	}
	fmt.Printf("  %-24s %6.2f\n", "sum", total)
	return nil
}

// readPhases reads a phases file's marks, in the order of their times.
func readPhases(file string) ([]phase.Line, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("the phases file: %w", err)
	}
	defer f.Close()
	var out []phase.Line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l, ok := phase.Parse(sc.Text()); ok {
			out = append(out, l)
		}
	}
	slices.SortStableFunc(out, func(a, b phase.Line) int { return a.At.Compare(b.At) })
	return out, sc.Err()
}
