// Command deskwoot is the one binary: serve | migrate | dev | policy | audit | version.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "deskwoot:", err)
		os.Exit(1)
	}
}
