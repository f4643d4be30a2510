// Command mdsm is a terminal workbench for energy-based image models trained with
// multiscale denoising score matching. With no arguments it opens the workbench on the
// embedded MNIST subset; subcommands run the same engine headless.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	_ "mdsm/gpu" // the cuda device backend (loaded at run time; absent libraries mean the CPU)
	"mdsm/internal/isa"
	"mdsm/nn"
)

// command is one subcommand. Each lives in its own file and registers itself in init.
type command struct {
	name, summary string
	run           func(args []string) error
	// distributed commands join the job a launcher started (joinJob); the others refuse
	// to run as several ranks.
	distributed bool
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

func usage() {
	w := os.Stderr
	fmt.Fprintf(w, `mdsm: train and explore energy-based image models (multiscale denoising score matching)

Usage:
  mdsm [workbench flags]        open the workbench (TUI) on the embedded MNIST subset
  mdsm COMMAND [flags]          run headless; "mdsm COMMAND --help" lists its flags

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, `
Workbench flags (mdsm with no command):
`)
	workbenchFlags(flag.NewFlagSet("mdsm", flag.ContinueOnError)).PrintDefaults()
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				c.run([]string{"--help"})
				return
			}
		}
		usage()
		return
	}
	for _, err := range []error{isa.Err(), nn.ConvEnvErr()} {
		if err != nil {
			fmt.Fprintf(os.Stderr, "mdsm: %v (or unset it)\n", err)
			os.Exit(2)
		}
	}
	var err error
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		c, ok := commands[args[0]]
		if !ok {
			fmt.Fprintf(os.Stderr, "mdsm: unknown command %q\n\n", args[0])
			usage()
			os.Exit(2)
		}
		if err = refuseJob(c.name); err == nil || c.distributed {
			err = c.run(args[1:])
		}
	} else if err = refuseJob("workbench"); err == nil {
		err = runWorkbench(args)
	}
	leaveJob(err != nil && !errors.Is(err, flag.ErrHelp))
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		if !quietPeerError(err) {
			fmt.Fprintf(os.Stderr, "%s: %v\n", errorPrefix(), err)
		}
		os.Exit(1)
	}
}
