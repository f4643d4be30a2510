package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"mdsm/internal/safefile"
)

// detachTraining continues a stopped run headless: it starts this binary again as
// `mdsm train --resume RUN_DIR` in a new session (setsid, like nohup: a closed terminal
// or SSH connection does not stop it), with output appended to RUN_DIR/train.log, and
// returns a line telling the user how to follow it.
func detachTraining(runDir string) (string, error) {
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
