package core

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runEventsUntil reads a Run's events until stop says so or the stream closes.
func runEventsUntil(t *testing.T, r *Run, what string, stop func(ev Event) bool) []Event {
	t.Helper()
	return readEvents(t, r.Events(), what, stop)
}

// finishedRun trains a run of testConfig for steps steps with StartRun, to its end.
func finishedRun(t *testing.T, steps int) (string, *Run) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	cfg := testConfig()
	cfg.Steps = steps
	r, err := StartRun(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	for range r.Events() {
	}
	return dir, r
}

func stepsOf(evs []Event) []StepEvent {
	var out []StepEvent
	for _, ev := range evs {
		if s, ok := ev.(StepEvent); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestFollowedRunGivesTheLiveStream: a run trained live and the same run followed from its
// directory give the same steps (losses, learning rates, totals), the newest checkpoint,
// the newest grid (decoded) and the state; control is refused for the followed one.
func TestFollowedRunGivesTheLiveStream(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	cfg := testConfig()
	cfg.Steps, cfg.SampleEvery, cfg.SampleCount, cfg.SampleSteps = 6, 3, 4, 5
	live, err := StartRun(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	var liveEvs []Event
	for ev := range live.Events() {
		liveEvs = append(liveEvs, ev)
	}
	if live.State() != Finished {
		t.Fatalf("live run ended %v", live.State())
	}
	var liveGrid *SampleEvent
	for _, ev := range liveEvs {
		if s, ok := ev.(SampleEvent); ok && s.Err == nil {
			liveGrid = &s
		}
	}
	if liveGrid == nil || liveGrid.Image == nil {
		t.Fatalf("the live run reported no decoded grid")
	}

	f, err := FollowRun(dir, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs := runEventsUntil(t, f, "the followed run's state", func(ev Event) bool { _, ok := ev.(StateEvent); return ok })
	ls, fs := stepsOf(liveEvs), stepsOf(evs)
	if len(fs) != len(ls) || len(fs) != 6 {
		t.Fatalf("followed %d steps, live %d", len(fs), len(ls))
	}
	for i := range fs {
		if fs[i].Step != ls[i].Step || fs[i].Loss != ls[i].Loss || fs[i].LR != ls[i].LR || fs[i].Total != 6 ||
			fs[i].WorldSize != 1 || ls[i].WorldSize != 1 || fs[i].RankImagesPerSec != nil {
			t.Errorf("step %d: followed %+v, live %+v", i, fs[i], ls[i])
		}
	}
	var ck *CheckpointEvent
	var grid *SampleEvent
	for _, ev := range evs {
		switch e := ev.(type) {
		case CheckpointEvent:
			ck = &e
		case SampleEvent:
			grid = &e
		}
	}
	if ck == nil || ck.Step != 6 {
		t.Errorf("followed checkpoint %+v, want step 6", ck)
	}
	if grid == nil || grid.Step != liveGrid.Step || grid.Image == nil || grid.Image.Bounds() != liveGrid.Image.Bounds() {
		t.Errorf("followed grid %+v, live grid step %d", grid, liveGrid.Step)
	}
	if st := evs[len(evs)-1].(StateEvent); st.State != Finished || f.State() != Finished {
		t.Errorf("followed state %v", st.State)
	}
	if err := f.Pause(); !errors.Is(err, ErrNotTraining) {
		t.Errorf("pause of a followed run: %v", err)
	}
	if w, err := f.Weights(); err != nil || w.Step != 6 || !strings.Contains(w.Source, "step-00000006") {
		t.Errorf("followed weights %+v, %v", w, err)
	}
}

// TestFollowerReadsAsTheFileGrows: a partial line waits until it is complete (a distributed
// run's line gives its world size and rank rates), a rewritten (shorter) metrics file is
// read again from the start, and another process's trainer shows as Running until it stops.
func TestFollowerReadsAsTheFileGrows(t *testing.T) {
	ds := testData(t)
	tr, dir := newTestTrainer(t, ds, func(c *RunConfig) { c.Steps = 100000 })
	tr.StopAtStep = 3
	tr.Start()
	go func() {
		for range tr.Events() {
		}
	}()
	<-tr.Done()
	f, err := FollowRun(dir, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs := runEventsUntil(t, f, "state", func(ev Event) bool { _, ok := ev.(StateEvent); return ok })
	if n := len(stepsOf(evs)); n != 3 || evs[len(evs)-1].(StateEvent).State != Stopped {
		t.Fatalf("%d steps, state %v; want 3, stopped", n, evs[len(evs)-1])
	}
	m, err := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// a line of a distributed run: its world size and ranks' rates ride on the StepEvent
	m.WriteString(`{"step":4,"loss":1.5,"norm_loss":0,"lr":0.001,"images_per_s":10,"elapsed_s":1,"time":"x","world_size":2,"rank_images_per_s":[6,4]`)
	time.Sleep(60 * time.Millisecond)
	select {
	case ev := <-f.Events():
		t.Fatalf("a partial line gave %#v", ev)
	default:
	}
	m.WriteString("}\n")
	m.Close()
	evs = runEventsUntil(t, f, "step 4", func(ev Event) bool { s, ok := ev.(StepEvent); return ok && s.Step == 4 })
	if s := stepsOf(evs); len(s) != 1 || s[0].Loss != 1.5 || s[0].ETA <= 0 || s[0].WorldSize != 2 || len(s[0].RankImagesPerSec) != 2 || s[0].RankImagesPerSec[1] != 4 {
		t.Errorf("appended line: %+v", s)
	}
	// a resumed trainer rewrites metrics.jsonl up to its checkpoint and holds the lock
	again, err := ResumeTrainer(dir, ds, ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again.Start()
	running, back := false, false
	runEventsUntil(t, f, "running, and the steps starting again after the rewrite", func(ev Event) bool {
		switch e := ev.(type) {
		case StateEvent:
			running = running || e.State == Running
		case StepEvent:
			back = back || e.Step <= 3
		}
		return running && back
	})
	again.Stop()
	for range again.Events() {
	}
	runEventsUntil(t, f, "stopped", func(ev Event) bool { s, ok := ev.(StateEvent); return ok && s.State == Stopped })
	if _, ok := LockHolder(dir); ok {
		t.Error("a closed run still names a lock holder")
	}
}

// TestResumedRunStartsWithItsHistory: a resumed live run's events begin with the steps
// logged before, then the trainer's own.
func TestResumedRunStartsWithItsHistory(t *testing.T) {
	dir, _ := finishedRun(t, 4)
	again, err := ResumeRun(dir, ResumeOptions{Steps: 6})
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	for ev := range again.Events() {
		if s, ok := ev.(StepEvent); ok {
			steps = append(steps, s.Step)
		}
	}
	if len(steps) != 6 || steps[0] != 1 || steps[5] != 6 {
		t.Errorf("steps %v, want 1..6 (history 1..4, then 5, 6)", steps)
	}
}

// TestSamplingJobs: a sampling job reports pictures at growing steps and ends done; a
// cancelled one ends with the cancellation; restoring reports its result line.
func TestSamplingJobs(t *testing.T) {
	dir, r := finishedRun(t, 2)
	cfg := r.Config()
	lc := cfg.SamplerConfig()
	lc.Schedule = lc.Schedule.Rescaled(12, 5)
	var last JobUpdate
	prev := 0
	for u := range StartSampling(context.Background(), r, SampleSpec{Sampler: lc, N: 4, Seed: 1, Every: func() int { return 5 }}) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		if u.Step <= prev || u.Picture == nil || len(u.Trace) != u.Step {
			t.Errorf("update %+v after step %d", u, prev)
		}
		prev, last = u.Step, u
	}
	if !last.Done || last.Step != 12 || !strings.Contains(last.Weights, "step 2") {
		t.Errorf("last update %+v", last)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lc.Schedule = lc.Schedule.Rescaled(1000000, 5)
	ch := StartSampling(ctx, r, SampleSpec{Sampler: lc, N: 2, Seed: 1, Every: func() int { return 1 }})
	<-ch
	cancel()
	var end JobUpdate
	for u := range ch {
		end = u
	}
	if end.Err != nil && !errors.Is(end.Err, context.Canceled) {
		t.Errorf("cancelled job ended with %v", end.Err)
	}

	imgs, err := LoadTestImages(cfg, 8)
	if err != nil {
		t.Fatal(err)
	}
	lc.Schedule = lc.Schedule.Rescaled(10, 5)
	for _, tc := range []struct{ mode, result string }{{"left", "masked MSE"}, {ModeDenoise, "PSNR"}} {
		spec := RestoreSpec{Mode: tc.mode, First: 6, Rows: 4, Sigma: 0.3, Sampler: lc, Seed: 1}
		pre, err := imgs.Preview(spec)
		if err != nil {
			t.Fatal(err)
		}
		var u JobUpdate
		for u = range StartRestoring(context.Background(), r, imgs, spec) {
			if u.Err != nil {
				t.Fatal(u.Err)
			}
		}
		if !u.Done || !strings.Contains(u.Result, tc.result) || u.Picture.Bounds() != pre.Bounds() {
			t.Errorf("%s: last update %+v (preview %v)", tc.mode, u, pre.Bounds())
		}
	}
	if p, err := SaveImage(dir, "denoise", imgs.mustPreview(t)); err != nil || !strings.HasPrefix(filepath.Base(p), "denoise-") {
		t.Errorf("saved %q: %v", p, err)
	}
}

func (t *TestImages) mustPreview(tb testing.TB) image.Image {
	img, err := t.Preview(RestoreSpec{Mode: "center", Rows: 2})
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// TestFollowerUsesTheCheckedReader: a followed run whose metrics.jsonl is a FIFO (or whose
// newest grid claims a billion pixels) is never waited on or decoded: the follower warns
// once, naming the file, however many polls see it, and still reports the run's state.
func TestFollowerUsesTheCheckedReader(t *testing.T) {
	ds := testData(t)
	tr, dir := newTestTrainer(t, ds, func(c *RunConfig) { c.Steps = 100000 })
	tr.StopAtStep = 2
	tr.Start()
	for range tr.Events() {
	}
	metrics := filepath.Join(dir, "metrics.jsonl")
	if err := os.Remove(metrics); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(metrics, 0o600); err != nil {
		t.Fatal(err)
	}
	// a PNG header claiming 40000 x 40000 pixels (its checksum right), and nothing after it
	chunk := []byte("IHDR\x00\x00\x9c\x40\x00\x00\x9c\x40\x08\x02\x00\x00\x00")
	hdr := binary.BigEndian.AppendUint32(append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0d"), chunk...), crc32.ChecksumIEEE(chunk))
	os.MkdirAll(filepath.Join(dir, "samples"), 0o777)
	if err := os.WriteFile(filepath.Join(dir, "samples", gridName(2)), hdr, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := FollowRun(dir, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	warns, grids := 0, 0
	var gridErr error
	polls := 0
	runEventsUntil(t, f, "a few polls", func(ev Event) bool {
		switch e := ev.(type) {
		case LogEvent:
			if e.Level == "warn" && strings.Contains(e.Msg, "metrics.jsonl") {
				warns++
				if !strings.Contains(e.Msg, "FIFO") {
					t.Errorf("warning %q does not say what the file is", e.Msg)
				}
			}
		case SampleEvent:
			grids++
			gridErr = e.Err
		case StateEvent:
			polls++
		}
		return polls >= 1 && grids > 0
	})
	time.Sleep(50 * time.Millisecond) // ten more polls
	for drained := false; !drained; {
		select {
		case ev := <-f.Events():
			if e, ok := ev.(LogEvent); ok && e.Level == "warn" && strings.Contains(e.Msg, "metrics.jsonl") {
				warns++
			}
		default:
			drained = true
		}
	}
	if warns != 1 {
		t.Errorf("%d warnings about the FIFO, want 1", warns)
	}
	if gridErr == nil || !strings.Contains(gridErr.Error(), "refusing to decode") {
		t.Errorf("the lying grid: %v, want a refusal before decoding", gridErr)
	}
}

// TestSaveImageNeverReplaces: the workbench's saves get a new name when the default one
// is taken, by a file or by a symbolic link, which is neither followed nor replaced.
func TestSaveImageNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	victim := filepath.Join(t.TempDir(), "victim")
	// links at the names of this second and the next: a save must take neither
	for _, at := range []time.Time{time.Now(), time.Now().Add(time.Second)} {
		os.MkdirAll(filepath.Join(dir, "samples"), 0o777)
		os.Symlink(victim, filepath.Join(dir, "samples", "grid-"+at.Format("20060102-150405")+".png"))
	}
	a, err := SaveImage(dir, "grid", img)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SaveImage(dir, "grid", img)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{a, b} {
		if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("saved %s: %v, %v", p, fi, err)
		}
	}
	if a == b {
		t.Errorf("two saves wrote the same file %s", a)
	}
	if _, err := os.Stat(victim); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a save wrote through a link: %v", err)
	}
	// exports (a chart's CSV) go to RUN/exports under the same policy
	p, err := SaveExport(dir, "train", ".csv", func(w io.Writer) error { _, err := io.WriteString(w, "step\n1\n"); return err })
	if b, rerr := os.ReadFile(p); err != nil || rerr != nil || string(b) != "step\n1\n" || filepath.Dir(p) != filepath.Join(dir, "exports") || filepath.Ext(p) != ".csv" {
		t.Errorf("export %s: %v, %v", p, err, rerr)
	}
}
