// Command deskwoot is the one binary: serve | migrate | dev | policy | audit | version.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "deskwoot:", err)
		os.Exit(1)
	}
}
