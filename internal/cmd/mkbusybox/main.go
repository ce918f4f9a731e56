// Command mkbusybox writes a busybox image, built from Debian's
// busybox-static, as a docker-archive: `make demo` loads it where there
// is no internet to pull one from.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"tug/internal/fixture"
)

func main() {
	out := flag.String("o", "busybox.tar", "archive to write")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintf(os.Stderr, "mkbusybox: %s\n", err)
		os.Exit(1)
	}
}

func write(out string) error {
	img, err := fixture.Busybox()
	if err != nil {
		return fmt.Errorf("build busybox image (apt-get install busybox-static): %w", err)
	}
	tag, err := name.NewTag("docker.io/library/busybox:latest")
	if err != nil {
		return err
	}
	return tarball.WriteToFile(out, tag, img)
}
