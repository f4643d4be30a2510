package tui

import (
	"fmt"
	"os"

	tea "charm.land/bubbletea/v2"

	"mdsm/tui/termimg"
)

// Run runs the workbench on the terminal until the user quits. A trainer still running
// when the program ends (a signal, a lost terminal) is stopped with a checkpoint. It
// returns a message to print after the terminal is restored ("" for none).
func Run(opts Options) (string, error) {
	if opts.TTYCell == nil {
		opts.TTYCell = ttyCellSize
	}
	a, err := New(opts)
	if err != nil {
		return "", err
	}
	p := tea.NewProgram(a)
	_, runErr := p.Run()
	a.stopJobs()
	msg := a.ExitMessage()
	if r := a.s.run; r != nil {
		if a.s.active() {
			if err := r.Stop(); err != nil {
				return msg, fmt.Errorf("stop training: %w", err)
			}
			msg += fmt.Sprintf("mdsm: training stopped with a checkpoint at step %d; resume with: mdsm --open %s", r.Step(), a.s.runDir)
		}
		r.Close()
	}
	if a.s.proto == termimg.ProtoKitty { // images outlive the program otherwise (inside tmux too)
		os.Stdout.Write(termimg.ForTmux(termimg.KittyDeleteAll(), a.s.caps.Tmux))
	}
	if runErr != nil {
		return msg, fmt.Errorf("workbench: %w", runErr)
	}
	return msg, nil
}
