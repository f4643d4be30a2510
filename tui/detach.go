package tui

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	tea "charm.land/bubbletea/v2"

	"mdsm/internal/safefile"
	"mdsm/tui/termimg"
)

// DetachTraining continues a stopped run headless: it starts this binary again as
// `mdsm train --resume RUN_DIR` in a new session (setsid, like nohup: a closed terminal
// or SSH connection does not stop it), with output appended to RUN_DIR/train.log, and
// returns a line telling the user how to follow it.
func DetachTraining(runDir string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the mdsm binary: %w", err)
	}
	logPath := filepath.Join(runDir, "train.log")
	logf, err := safefile.OpenAppend(logPath)
	if err != nil {
		return "", fmt.Errorf("open the training log: %w", err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	defer devnull.Close()
	cmd := exec.Command(exe, "train", "--resume", runDir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s train --resume %s: %w", exe, runDir, err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return fmt.Sprintf("mdsm: training continues headless (pid %d): %s train --resume %s\n"+
		"mdsm: log: %s; follow it with: mdsm watch %s", pid, filepath.Base(exe), runDir, logPath, runDir), nil
}

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
	a.stopChains()
	msg := a.ExitMessage()
	if tr := a.Trainer(); tr != nil && a.s.trainerActive() {
		if err := tr.Stop(); err != nil {
			return msg, fmt.Errorf("stop training: %w", err)
		}
		msg += fmt.Sprintf("mdsm: training stopped with a checkpoint at step %d; resume with: mdsm --open %s", tr.Step(), a.s.runDir)
	}
	if a.s.proto == termimg.ProtoKitty {
		os.Stdout.Write(termimg.KittyDeleteAll())
	}
	if runErr != nil {
		return msg, fmt.Errorf("workbench: %w", runErr)
	}
	return msg, nil
}
