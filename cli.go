package main

import "io"

// runValidate is `mfn validate [flags]`: the reference CLI's flags and output. Returns the exit code.
func runValidate(args []string, stdout, stderr io.Writer) int { panic("cli: TODO") }

// runSimulate is `mfn simulate [flags]`: flags = /simulate request fields; JSON result on stdout.
func runSimulate(args []string, stdout, stderr io.Writer) int { panic("cli: TODO") }
