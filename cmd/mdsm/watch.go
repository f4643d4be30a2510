package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"mdsm/tui"
)

func init() {
	register(command{name: "watch", summary: "follow a headless run (mdsm train) in the workbench", run: runWatch})
}

func runWatch(args []string) error {
	fs := flag.NewFlagSet("mdsm watch", flag.ContinueOnError)
	images := fs.String("images", "auto", "how to draw images: sixel|kitty|blocks|none|auto")
	pane := fs.String("pane", "train", "pane to open on: "+strings.Join(tui.PaneNames(), ", "))
	charts := fs.String("charts", "auto", chartsHelp)
	runs := fs.String("runs", "", runsHelp+" (default: the folder that holds RUN_DIR)")
	mouse := fs.Bool("mouse", false, mouseHelp)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mdsm watch [flags] RUN_DIR

Opens the workbench on a run trained by another process (mdsm train, possibly over SSH):
it follows metrics.jsonl, the newest checkpoint and the sample grids, and can sample,
inpaint and denoise from the newest checkpoint. The Train pane's keys steer the trainer
through the run's control channel (p pause/resume, c checkpoint, x stop, T new total);
the Runs pane (6) lists the runs beside it, to watch another or lay its loss over this one.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args, "RUN_DIR"); err != nil {
		return err
	}
	marker, err := resolveCharts(*charts, os.Getenv)
	if err != nil {
		return err
	}
	proto, caps, err := detectImages(*images)
	if err != nil {
		return err
	}
	msg, err := tui.Run(tui.Options{Watch: fs.Arg(0), StartPane: *pane, Protocol: proto, Caps: caps, Charts: marker,
		RunsRoot: *runs, Mouse: *mouse})
	if msg != "" {
		fmt.Println(msg)
	}
	return err
}
