package main

import (
	"errors"
	"flag"
)

func workbenchFlags(fs *flag.FlagSet) *flag.FlagSet { return fs }

func runWorkbench(args []string) error { return errors.New("workbench not built yet") }
