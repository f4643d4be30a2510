package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"mdsm/core"
	"mdsm/tui"
	"mdsm/tui/chart"
	"mdsm/tui/termimg"
)

// workbenchOpts are the flags of the workbench (mdsm with no command).
type workbenchOpts struct {
	images string
	charts string
	runDir string
	open   string
	pane   string
	runs   string
	mouse  bool
	cfg    core.RunConfig
	rf     *runFlags
}

var wbOpts workbenchOpts

// workbenchFlags binds the workbench flags (image protocol, run directory, a run to
// reopen, and the training flags of `mdsm train`) to fs.
func workbenchFlags(fs *flag.FlagSet) *flag.FlagSet {
	wbOpts = workbenchOpts{cfg: core.DefaultRunConfig()}
	fs.StringVar(&wbOpts.images, "images", "auto", "how to draw images: "+strings.Join(termimg.ProtocolNames(), "|")+" (auto asks the terminal: sixel, then kitty, then half blocks)")
	fs.StringVar(&wbOpts.runDir, "run-dir", "", "where to write a new run (default runs/DATE-TIME)")
	fs.StringVar(&wbOpts.open, "open", "", "reopen this run directory and resume training it")
	fs.StringVar(&wbOpts.pane, "pane", "train", "pane to open on: "+strings.Join(tui.PaneNames(), ", "))
	fs.StringVar(&wbOpts.charts, "charts", "auto", chartsHelp)
	fs.StringVar(&wbOpts.runs, "runs", "runs", runsHelp)
	fs.BoolVar(&wbOpts.mouse, "mouse", false, mouseHelp)
	wbOpts.rf = bindRunFlags(fs)
	return fs
}

// runWorkbench opens the TUI.
func runWorkbench(args []string) error {
	fs := workbenchFlags(flag.NewFlagSet("mdsm", flag.ContinueOnError))
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mdsm [flags]\n\nOpens the workbench (press ? inside for the keys).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args); err != nil {
		return fmt.Errorf("%w (commands: mdsm help)", err)
	}
	if wbOpts.open != "" {
		if err := refuseOnResume(fs, "--open "+wbOpts.open, []string{"open", "images", "pane", "charts", "runs", "mouse", "skip-memory-check"}); err != nil {
			return err
		}
	}
	if err := wbOpts.rf.apply(&wbOpts.cfg); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	charts, err := resolveCharts(wbOpts.charts, os.Getenv)
	if err != nil {
		return err
	}
	proto, caps, err := detectImages(wbOpts.images)
	if err != nil {
		return err
	}
	msg, err := tui.Run(tui.Options{Config: wbOpts.cfg, RunDir: wbOpts.runDir, Open: wbOpts.open, StartPane: wbOpts.pane,
		Protocol: proto, Caps: caps, Detach: detachTraining, Charts: charts, RunsRoot: wbOpts.runs, Mouse: wbOpts.mouse})
	if msg != "" {
		fmt.Println(msg)
	}
	return err
}

// detectImages resolves --images: it asks the terminal (a short in-band query on the raw
// tty, tmux included) unless the flag forces a protocol or stdout is not a terminal.
func detectImages(flagValue string) (termimg.Protocol, termimg.Caps, error) {
	req, err := termimg.ParseProtocol(flagValue)
	if err != nil {
		return termimg.ProtoNone, termimg.Caps{}, fmt.Errorf("--images: %w", err)
	}
	caps := termimg.Caps{Cell: termimg.DefaultCellSize, Tmux: termimg.InTmux()}
	if !term.IsTerminal(int(os.Stdout.Fd())) {
		if req == termimg.ProtoAuto {
			req = termimg.ProtoBlocks
		}
		return req, caps, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Inside tmux the outer terminal answers a round trip after tmux does
	// (over SSH, that can be hundreds of milliseconds): wait longer there.
	wait := 400 * time.Millisecond
	if caps.Tmux {
		wait = time.Second
	}
	if c, derr := termimg.DetectTerminal(ctx, wait); derr == nil || c.DA1Replies > 0 {
		caps = c
	}
	return termimg.Resolve(req, caps), caps, nil
}

const runsHelp = "the folder of run directories the Runs pane (6) lists"

const mouseHelp = "mouse: click tabs and the Runs pane's rows (the terminal's own text selection then needs shift)"

const chartsHelp = "how charts are drawn: braille, blocks, or ascii for a font without braille and block glyphs (auto: braille under a UTF-8 locale, else ascii)"

// resolveCharts turns --charts into a chart marker. auto picks ASCII when the locale
// (LC_ALL, LC_CTYPE, LANG, the first one set) does not say UTF-8: a terminal that does
// not expect UTF-8 cannot show braille either.
func resolveCharts(v string, getenv func(string) string) (chart.Marker, error) {
	if v == "auto" {
		for _, name := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
			if l := strings.ToLower(getenv(name)); l != "" {
				if strings.Contains(l, "utf-8") || strings.Contains(l, "utf8") {
					return chart.Braille, nil
				}
				return chart.ASCII, nil
			}
		}
		return chart.ASCII, nil
	}
	m, ok := chart.ParseMarker(v)
	if !ok {
		return chart.Braille, fmt.Errorf("--charts %q: choose braille, blocks, ascii or auto", v)
	}
	return m, nil
}
