package main

// Reliability of `mdsm train` as a process: SIGKILL at random points, SIGINT/SIGTERM/SIGHUP,
// a second Ctrl-C, a second trainer on the same run, a file-size limit. The test binary
// doubles as the mdsm binary (MDSM_TEST_AS_MAIN=1), so these drive the real command.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mdsm/core"
)

func init() {
	if os.Getenv("MDSM_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
}

// trainArgs start a fresh tiny run that checkpoints every 2 steps and logs every step.
func trainArgs(dir string, steps int) []string {
	return []string{"train", "--run-dir", dir, "--preset", "tiny", "--batch", "8", "--checkpoint-every", "2",
		"--log-every", "1", "--steps", strconv.Itoa(steps), "--data", "embedded", "--sample-every", "0",
		"--threads", "1", "--quiet"}
}

func resumeArgs(dir string, extra ...string) []string {
	return append([]string{"train", "--resume", dir, "--threads", "1", "--quiet"}, extra...)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running mdsm.
type proc struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error
}

// mdsmCommand is the test binary acting as mdsm with args.
func mdsmCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "MDSM_TEST_AS_MAIN=1")
	return cmd
}

// startMdsm starts mdsm; stderr and stdout go to out unless w is given.
func startMdsm(t *testing.T, w io.Writer, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: mdsmCommand(t, args...), done: make(chan struct{})}
	if w == nil {
		w = &p.out
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the exit and returns the exit code (-1 for a signal death).
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("mdsm did not exit; output:\n%s", p.out.String())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// latestStep is the newest step with a state sidecar (a complete checkpoint), or 0.
func latestStep(dir string) int {
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "step-*.json"))
	best := 0
	for _, f := range files {
		var s int
		if _, err := fmt.Sscanf(filepath.Base(f), "step-%08d.json", &s); err == nil && s > best {
			best = s
		}
	}
	return best
}

// waitProgress waits until the run has a complete checkpoint beyond step prev.
func waitProgress(t *testing.T, p *proc, dir string, prev int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for latestStep(dir) <= prev {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("no checkpoint beyond step %d; output:\n%s", prev, p.out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkRun asserts that a run directory is resumable: a loadable newest checkpoint, no
// damaged one skipped, every complete metrics line parses. It returns the checkpoint step
// and the metrics.
func checkRun(t *testing.T, dir string) (int, []core.MetricRecord) {
	t.Helper()
	ck, skipped, err := core.LoadLatestCheckpoint(dir)
	if err != nil {
		t.Fatalf("no loadable checkpoint: %v", err)
	}
	if len(skipped) > 0 {
		t.Fatalf("damaged checkpoints: %v", skipped)
	}
	if err := ck.Params.CheckFinite(); err != nil {
		t.Fatal(err)
	}
	recs, err := core.ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatalf("metrics.jsonl: %v", err)
	}
	return ck.State.Step, recs
}

// checkContiguous asserts metrics.jsonl holds exactly steps 1..n.
func checkContiguous(t *testing.T, recs []core.MetricRecord, n int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("metrics.jsonl has %d records, want steps 1..%d", len(recs), n)
	}
	for i, r := range recs {
		if r.Step != i+1 {
			t.Fatalf("metrics.jsonl record %d is step %d: steps lost or repeated", i, r.Step)
		}
	}
}

// TestKillResume: SIGKILL at random points of a run that checkpoints every 2 steps (so
// some kills land in checkpoint writes); after each kill the run has a loadable newest
// checkpoint and parseable metrics, and --resume continues from exactly that checkpoint.
// MDSM_KILLS sets the number of kills (default 8).
func TestKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mdsm processes")
	}
	kills := 8
	if n, err := strconv.Atoi(os.Getenv("MDSM_KILLS")); err == nil && n > 0 {
		kills = n
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	dir := filepath.Join(t.TempDir(), "run")
	prev, midWrite := 0, 0
	for i := 0; i < kills; i++ {
		args := resumeArgs(dir)
		if i == 0 {
			args = trainArgs(dir, 1000000)
		}
		p := startMdsm(t, nil, args...)
		waitProgress(t, p, dir, prev)
		if i%2 == 0 {
			time.Sleep(time.Duration(rng.IntN(150_000)) * time.Microsecond)
		} else {
			// aim at a checkpoint write: kill as soon as a temporary file shows up
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
				if tmps, _ := filepath.Glob(filepath.Join(dir, "checkpoints", ".*.tmp-*")); len(tmps) > 0 {
					break
				}
			}
		}
		p.cmd.Process.Kill()
		if code := p.wait(t); code != -1 {
			t.Fatalf("kill %d: exit code %d before the kill; output:\n%s", i+1, code, p.out.String())
		}
		if tmps, _ := filepath.Glob(filepath.Join(dir, "checkpoints", ".*.tmp-*")); len(tmps) > 0 {
			midWrite++
		}
		if i > 0 && !strings.Contains(p.out.String(), fmt.Sprintf("at step %d\n", prev)) {
			t.Fatalf("kill %d: resume did not start from the checkpoint at step %d; output:\n%s", i+1, prev, p.out.String())
		}
		step, _ := checkRun(t, dir)
		if step <= prev {
			t.Fatalf("kill %d: checkpoint step %d, not beyond %d", i+1, step, prev)
		}
		prev = step
	}
	t.Logf("%d kills, %d of them during a checkpoint write, all resumable; last checkpoint step %d", kills, midWrite, prev)
	p := startMdsm(t, nil, resumeArgs(dir, "--steps", strconv.Itoa(prev+3))...)
	if code := p.wait(t); code != 0 {
		t.Fatalf("final resume: exit %d; output:\n%s", code, p.out.String())
	}
	step, recs := checkRun(t, dir)
	if step != prev+3 {
		t.Fatalf("final checkpoint at step %d, want %d", step, prev+3)
	}
	checkContiguous(t, recs, step)
}

// TestSignals: SIGINT, SIGTERM and SIGHUP (with the terminal gone, as when SSH drops)
// finish the step, checkpoint at the current step and exit 0; a second trainer on the run
// is refused while the first runs; two quick SIGINTs quit at once (status 130) and the run
// stays resumable.
func TestSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mdsm processes")
	}
	dir := filepath.Join(t.TempDir(), "run")
	prev := 0
	for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		args := resumeArgs(dir)
		if i == 0 {
			args = trainArgs(dir, 1000000)
		}
		var p *proc
		if sig == syscall.SIGHUP {
			// stderr is a pipe whose reader goes away before the hangup.
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			p = startMdsm(t, w, args...)
			w.Close()
			go io.Copy(&p.out, r)
			waitProgress(t, p, dir, prev)
			r.Close()
		} else {
			p = startMdsm(t, nil, args...)
			waitProgress(t, p, dir, prev)
		}
		if sig == syscall.SIGTERM {
			// A second trainer on the same run is refused, naming the fix.
			out, err := mdsmCommand(t, resumeArgs(dir)...).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "in use") || !strings.Contains(string(out), "mdsm watch") {
				t.Fatalf("second trainer on a run in use: %v\n%s", err, out)
			}
		}
		p.cmd.Process.Signal(sig)
		if code := p.wait(t); code != 0 {
			t.Fatalf("%v: exit %d; output:\n%s", sig, code, p.out.String())
		}
		step, recs := checkRun(t, dir)
		if last := recs[len(recs)-1].Step; step != last {
			t.Fatalf("%v: checkpoint at step %d but the last step done was %d", sig, step, last)
		}
		if sig != syscall.SIGHUP && !strings.Contains(p.out.String(), fmt.Sprintf("stopped by %v at step %d", sig, step)) {
			t.Errorf("%v: no stop message for step %d; output:\n%s", sig, step, p.out.String())
		}
		if step <= prev {
			t.Fatalf("%v: no progress beyond step %d", sig, prev)
		}
		prev = step
	}

	// Ctrl-C twice: out at once, nothing damaged.
	p := startMdsm(t, nil, resumeArgs(dir)...)
	waitProgress(t, p, dir, prev)
	p.cmd.Process.Signal(syscall.SIGINT)
	// the second after the first is handled (two pending SIGINTs merge into one)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.out.String(), "finishing the step") && !p.exited() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Microsecond)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	code := p.wait(t)
	if code != 130 && code != 0 { // 0: the checkpoint was done before the second arrived
		t.Fatalf("double SIGINT: exit %d; output:\n%s", code, p.out.String())
	}
	t.Logf("double SIGINT: exit %d", code)
	prev, _ = checkRun(t, dir)
	p = startMdsm(t, nil, resumeArgs(dir, "--steps", strconv.Itoa(prev+2))...)
	if code := p.wait(t); code != 0 {
		t.Fatalf("resume after a double SIGINT: exit %d; output:\n%s", code, p.out.String())
	}
	step, recs := checkRun(t, dir)
	if step != prev+2 {
		t.Fatalf("resume after a double SIGINT ended at step %d, want %d", step, prev+2)
	}
	checkContiguous(t, recs, step)
}

// TestFileSizeLimit: under a file-size limit smaller than a checkpoint (RLIMIT_FSIZE;
// the Go runtime ignores SIGXFSZ, so writes fail with EFBIG as on a full quota) training
// stops with status 1 and a message naming the run directory and the fix; the previous
// checkpoint is intact, the failed one leaves no files, and the run resumes without the
// limit.
func TestFileSizeLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mdsm processes")
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := filepath.Join(t.TempDir(), "run")
	p := startMdsm(t, nil, trainArgs(dir, 4)...)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, p.out.String())
	}
	// 40 blocks: 20 KiB (dash) or 40 KiB (bash); a tiny checkpoint's weights are 49 KiB.
	exe, _ := os.Executable()
	cmd := exec.Command("sh", append([]string{"-c", `ulimit -f 40 && exec "$0" "$@"`, exe}, resumeArgs(dir, "--steps", "100")...)...)
	cmd.Env = append(os.Environ(), "MDSM_TEST_AS_MAIN=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("under a file-size limit: %v (want exit status 1)\n%s", err, out)
	}
	for _, want := range []string{"file too large", dir, "mdsm train --resume " + dir, "intact"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("message should contain %q:\n%s", want, out)
		}
	}
	step, _ := checkRun(t, dir)
	if step != 4 {
		t.Fatalf("checkpoint at step %d after the failure, want the previous one (4)", step)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "*")); len(files) != 3*len(mustGlob(t, dir, "step-*.json")) {
		t.Errorf("partial checkpoint files left: %v", files)
	}
	p = startMdsm(t, nil, resumeArgs(dir, "--steps", "8")...)
	if code := p.wait(t); code != 0 {
		t.Fatalf("resume without the limit: exit %d; output:\n%s", code, p.out.String())
	}
	step, recs := checkRun(t, dir)
	if step != 8 {
		t.Fatalf("ended at step %d, want 8", step)
	}
	checkContiguous(t, recs, 8)
}

func mustGlob(t *testing.T, dir, pattern string) []string {
	m, err := filepath.Glob(filepath.Join(dir, "checkpoints", pattern))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
