// Command composecheck loads a docker-compose file with compose-go, the library Docker
// Compose itself uses, and fails on anything the Compose specification rejects. It lets us
// validate docker-compose.yml where no Docker engine runs.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	asJSON := len(os.Args) == 3 && os.Args[2] == "--json"
	if len(os.Args) != 2 && !asJSON {
		fmt.Fprintln(os.Stderr, "usage: composecheck docker-compose.yml [--json]")
		os.Exit(2)
	}
	options, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithName("prospectflow"), cli.WithOsEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "invalid:", err)
		os.Exit(1)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "invalid:", err)
		os.Exit(1)
	}
	if asJSON { // the project as Compose resolved it: anchors merged, variables substituted
		out, err := project.MarshalJSON()
		if err != nil {
			fmt.Fprintln(os.Stderr, "invalid:", err)
			os.Exit(1)
		}
		fmt.Println(string(out))
		return
	}
	fmt.Println("valid; services:", strings.Join(project.ServiceNames(), " "))
}
