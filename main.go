package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "mfn: not yet wired")
	os.Exit(1)
}
