package core

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"mdsm/data"
)

// trainedRun trains the test config for steps steps (a checkpoint every 4) and returns the
// run directory.
func trainedRun(t *testing.T, ds *data.Dataset, cfg RunConfig, steps int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "r")
	tr, err := NewTrainer(cfg, ds, dir)
	if err != nil {
		t.Fatal(err)
	}
	tr.StopAtStep = steps
	tr.Start()
	if err, _ := waitErr(t, tr); err != nil {
		t.Fatal(err)
	}
	return dir
}

// poisonWeights writes a NaN into the first weight of a checkpoint's weights file.
func poisonWeights(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hl := binary.LittleEndian.Uint64(b)
	binary.LittleEndian.PutUint32(b[8+hl:], math.Float32bits(float32(math.NaN())))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckStateCases: each field of a sidecar is checked against its file name and the
// other fields; every lie is an error naming the field.
func TestCheckStateCases(t *testing.T) {
	dir := trainedRun(t, testData(t), testConfig(), 4)
	b, err := os.ReadFile(checkpointBase(dir, 4) + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var good TrainState
	if err := json.Unmarshal(b, &good); err != nil {
		t.Fatal(err)
	}
	if err := CheckState(good, "step-00000004.json"); err != nil {
		t.Fatalf("a good sidecar: %v", err)
	}
	for _, c := range []struct {
		name, file, want string
		edit             func(*TrainState)
	}{
		{"step differs from the file name", "step-00000008.json", "file name", func(*TrainState) {}},
		{"step changed", "step-00000004.json", "says step 4 but the state says step 5", func(s *TrainState) { s.Step = 5 }},
		{"weights of another step", "", "weights file", func(s *TrainState) { s.Weights = "step-00000002.safetensors" }},
		{"weights outside", "", "weights file", func(s *TrainState) { s.Weights = "../../x.safetensors" }},
		{"optimizer of another step", "", "optimizer file", func(s *TrainState) { s.Optimizer = "step-00000002.adam.safetensors" }},
		{"adam step", "", "Adam step", func(s *TrainState) { s.AdamT = 3 }},
		{"too many rollbacks", "", "rollbacks", func(s *TrainState) { s.Rollbacks = 9 }},
		{"lr scale without rollback", "", "lr_scale", func(s *TrainState) { s.LRScale = 0.5 }},
		{"lr scale not halved", "", "lr_scale", func(s *TrainState) { s.Rollbacks, s.LRScale = 2, 0.5 }},
		{"negative elapsed", "", "elapsed_s", func(s *TrainState) { s.Elapsed = -1 }},
		{"NaN loss", "", "loss", func(s *TrainState) { s.Loss = math.NaN() }},
		{"noise rng", "", "noise generator", func(s *TrainState) { s.NoiseRNG = []byte("junk") }},
		{"batcher position", "", "batcher position", func(s *TrainState) { s.Batcher.Pos = s.Batcher.N + 1 }},
		{"invalid config", "", "run config", func(s *TrainState) { s.Config.BatchSize = -1 }},
	} {
		st := good
		st.Batcher.RNG = append([]byte(nil), good.Batcher.RNG...)
		c.edit(&st)
		file := c.file
		if file == "" {
			file = "copied.json" // a sidecar under another name: only its fields are checked
		}
		err := CheckState(st, file)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

// TestNaNCheckpointSkipped: a checkpoint whose weights hold a NaN is skipped like a damaged
// one, both by --resume (and set aside) and by a NaN rollback, which never lands on it.
func TestNaNCheckpointSkipped(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	dir := trainedRun(t, ds, cfg, 8)
	poisonWeights(t, checkpointBase(dir, 8)+".safetensors")
	ck, skipped, err := LoadLatestCheckpoint(dir)
	if err != nil || ck.State.Step != 4 || len(skipped) != 1 || !strings.Contains(skipped[0].Error(), "not finite") {
		t.Fatalf("latest checkpoint with a NaN newest one: %v, skipped %v, err %v", ck, skipped, err)
	}
	tr, err := ResumeTrainer(dir, ds, ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.step != 4 {
		t.Errorf("resumed at step %d, want 4", tr.step)
	}
	tr.Stop()
	if _, err := os.Stat(checkpointBase(dir, 8) + ".json.damaged"); err != nil {
		t.Errorf("NaN checkpoint not set aside: %v", err)
	}

	// A rollback: a NaN newest checkpoint (written behind the trainer's back) is passed
	// over for the good one before it.
	cfg.Steps, cfg.NaNRollback = 16, true
	ds = poisonedRun(testData(t), cfg, 10, 10)
	dir = filepath.Join(t.TempDir(), "r2")
	tr, err = NewTrainer(cfg, ds, dir)
	if err != nil {
		t.Fatal(err)
	}
	tr.beforeStep = func(step int, batch []float32) {
		if step == 9 { // the checkpoint at step 8 is written: poison it
			poisonWeights(t, checkpointBase(dir, 8)+".safetensors")
		}
	}
	tr.Start()
	err, logs := waitErr(t, tr)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var rolled string
	for _, l := range logs {
		if strings.Contains(l.Msg, "rolled back") {
			rolled = l.Msg
		}
	}
	if !strings.Contains(rolled, "checkpoint at step 4") {
		t.Errorf("rollback did not go to the good checkpoint at step 4: %q", rolled)
	}
}

// TestResumeRefusesEditedConfig: config.json edited in a field a run cannot change is
// refused, naming the field; a changeable one is not.
func TestResumeRefusesEditedConfig(t *testing.T) {
	ds := testData(t)
	cfg := testConfig()
	dir := trainedRun(t, ds, cfg, 4)
	edited := cfg
	edited.Seed, edited.Steps = 99, 20
	os.WriteFile(filepath.Join(dir, "config.json"), mustJSON(t, edited), 0o644)
	_, err := ResumeTrainer(dir, ds, ResumeOptions{})
	if err == nil || !strings.Contains(err.Error(), "seed (1, now 99)") || strings.Contains(err.Error(), "steps") {
		t.Fatalf("edited seed: %v", err)
	}
	edited.Seed = cfg.Seed
	os.WriteFile(filepath.Join(dir, "config.json"), mustJSON(t, edited), 0o644)
	tr, err := ResumeTrainer(dir, ds, ResumeOptions{})
	if err != nil {
		t.Fatalf("edited steps only: %v", err)
	}
	tr.Stop()
}

// TestRunFilesRefuseLinks: a .lock or metrics.jsonl planted as a symbolic link in a new run
// directory is refused; the link's target is untouched and no config.json is written.
func TestRunFilesRefuseLinks(t *testing.T) {
	cfg := testConfig()
	for _, name := range []string{".lock", "metrics.jsonl"} {
		base := t.TempDir()
		victim := filepath.Join(base, "victim")
		os.WriteFile(victim, []byte("precious"), 0o600)
		dir := filepath.Join(base, "r")
		os.Mkdir(dir, 0o755)
		os.Symlink(victim, filepath.Join(dir, name))
		_, err := CreateRunDir(dir, cfg)
		if err == nil || !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), name) {
			t.Errorf("%s as a link: %v", name, err)
		}
		if b, _ := os.ReadFile(victim); string(b) != "precious" {
			t.Errorf("%s as a link: target changed to %q", name, b)
		}
		if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
			t.Errorf("%s as a link: config.json written anyway", name)
		}
	}
	// A FIFO as config.json or as a checkpoint sidecar is refused at once.
	dir := filepath.Join(t.TempDir(), "r")
	os.MkdirAll(filepath.Join(dir, "checkpoints"), 0o755)
	syscall.Mkfifo(filepath.Join(dir, "config.json"), 0o644)
	if _, err := ReadRunConfig(dir); err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("config.json as a FIFO: %v", err)
	}
	syscall.Mkfifo(checkpointBase(dir, 4)+".json", 0o644)
	if _, _, err := LoadLatestCheckpoint(dir); err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("sidecar as a FIFO: %v", err)
	}
}

func TestDiskSpaceWarningUnits(t *testing.T) {
	for _, c := range []struct {
		free, ckpt int64
		want       string
	}{
		{100 << 10, 212 << 10, "only 100 KiB free in D, a checkpoint takes 212 KiB"},
		{0, 3 << 20, "only 0 B free in D, a checkpoint takes 3 MiB"},
		{5 << 30, 3 << 30, "only 5.0 GiB free in D, a checkpoint takes 3.0 GiB"},
		{1 << 30, 1 << 20, ""},
	} {
		if got := diskSpaceWarning(c.free, c.ckpt, "D"); !strings.HasPrefix(got, c.want) || (c.want == "") != (got == "") {
			t.Errorf("free %d, checkpoint %d: %q, want %q...", c.free, c.ckpt, got, c.want)
		}
	}
}

// TestMemoryLimitEnv: MDSM_MEMORY_LIMIT caps the memory a run may use; a dataset that does
// not fit under it is refused before it is loaded; a bad value is an error naming it.
func TestMemoryLimitEnv(t *testing.T) {
	for v, want := range map[string]int64{"512MiB": 512 << 20, "2G": 2 << 30, "1e6": 1e6, "3 GiB": 3 << 30} {
		t.Setenv("MDSM_MEMORY_LIMIT", v)
		got, err := memoryLimitEnv()
		if err != nil || got != want {
			t.Errorf("MDSM_MEMORY_LIMIT=%s: %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []string{"lots", "-1G", "0", "NaN", "1e400"} {
		t.Setenv("MDSM_MEMORY_LIMIT", v)
		if err := CheckMemory(testConfig()); err == nil || !strings.Contains(err.Error(), "MDSM_MEMORY_LIMIT") {
			t.Errorf("MDSM_MEMORY_LIMIT=%s: %v", v, err)
		}
	}
	t.Setenv("MDSM_MEMORY_LIMIT", "8MiB")
	_, err := LoadDataset("embedded", "train", "", data.Options{Size: 32})
	if err == nil || !strings.Contains(err.Error(), "MDSM_MEMORY_LIMIT") || !strings.Contains(err.Error(), "embedded") {
		t.Errorf("dataset over the limit: %v", err)
	}
	cfg := testConfig()
	if _, err := LoadTrainingData(cfg); err == nil || !strings.Contains(err.Error(), "dataset") {
		t.Errorf("training data over the limit: %v", err)
	}
}
