// Command actionlint checks the repository's GitHub Actions workflows, built from the Go module
// proxy like the other tools of the local stack (no binary download).
package main

import (
	"os"

	"github.com/rhysd/actionlint"
)

func main() {
	cmd := actionlint.Command{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	os.Exit(cmd.Main(os.Args))
}
