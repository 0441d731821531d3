// Command deskwoot is the one binary: serve | migrate | dev | policy | audit | version.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/deskwoot/deskwoot/policy"
)

func main() {
	policy.ServeSandboxIfChild() // a child evaluating account rules does only that
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "deskwoot:", err)
		os.Exit(1)
	}
}
