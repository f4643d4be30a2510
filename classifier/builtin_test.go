package classifier

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"mdsm/data"
	"mdsm/internal/isa"
)

// sharedData is where the real MNIST and Fashion-MNIST IDX files are found in this
// project's checkouts (../shared/datasets, or $MDSM_TEST_DATASETS as in package data);
// tests that need them skip without them.
func sharedData(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "datasets")
	if d := os.Getenv("MDSM_TEST_DATASETS"); d != "" {
		dir = d
	}
	if _, err := os.Stat(filepath.Join(dir, name, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("real %s not found in %s: this test needs the official IDX files", name, dir)
	}
	return dir
}

// TestBuiltinRecords: every built-in classifier loads, says how to retrain it, reaches the
// accuracy the issue asks for, and records the first steps of its training.
func TestBuiltinRecords(t *testing.T) {
	want := map[string]float64{"mnist": 0.99, "fashion-mnist": 0.90}
	for _, name := range BuiltinNames() {
		c, err := Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		if c.Dataset != name || c.Accuracy < want[name] || c.RefN != 10000 || len(c.RefCov) != c.Params.Config.Hidden*c.Params.Config.Hidden {
			t.Errorf("%s: dataset %q, accuracy %.4f (want >= %.2f), reference from %d images", name, c.Dataset, c.Accuracy, want[name], c.RefN)
		}
		for _, k := range []string{"command", "train", "data", "kernel", "check_losses", "check_sha256"} {
			if c.Meta[k] == "" {
				t.Errorf("%s: metadata %q is missing", name, k)
			}
		}
	}
}

// TestFirstTestImagesAccuracy: each built-in classifier classifies the first 1,000 images
// of its test set (for MNIST the embedded ones, always at hand) about as well as its
// recorded accuracy on all 10,000 says. (Evaluating all 10,000 takes ten times as long
// under the race detector; the recorded number is checked by the documented retraining.)
func TestFirstTestImagesAccuracy(t *testing.T) {
	for _, name := range BuiltinNames() {
		t.Run(name, func(t *testing.T) {
			c, err := Builtin(name)
			if err != nil {
				t.Fatal(err)
			}
			var test *data.Dataset
			if name == "mnist" {
				test, err = data.LoadWith(data.Embedded, "test", "", data.Options{Size: Side})
			} else {
				test, err = data.LoadWith(name, "test", sharedData(t, name), data.Options{Size: Side, Limit: 1000})
			}
			if err != nil {
				t.Fatal(err)
			}
			acc, _, err := Evaluate(c.Params, test.Slice(0, 1000))
			if err != nil {
				t.Fatal(err)
			}
			if acc < c.Accuracy-0.015 {
				t.Errorf("accuracy on the first 1,000 test images %.3f, recorded on all 10,000: %.4f", acc, c.Accuracy)
			}
		})
	}
}

// TestRetrainingReproduces retrains the first recorded steps of each built-in classifier
// from its recorded seed on the real training set, at the active kernel level (the one a
// retraining here would use; MDSM_ISA=go|avx2 selects another), and compares with the
// record: on amd64 the weights must be bit for bit the recorded ones at that level, so the
// full training (the file's "command") reproduces the committed file; everywhere the
// losses must match to rounding.
func TestRetrainingReproduces(t *testing.T) {
	for _, name := range BuiltinNames() {
		t.Run(name, func(t *testing.T) {
			dir := sharedData(t, name)
			c, err := Builtin(name)
			if err != nil {
				t.Fatal(err)
			}
			var tc TrainConfig
			var losses []float64
			var sums map[string]string
			for k, v := range map[string]any{"train": &tc, "check_losses": &losses, "check_sha256": &sums} {
				if err := json.Unmarshal([]byte(c.Meta[k]), v); err != nil {
					t.Fatalf("metadata %s: %v", k, err)
				}
			}
			train, err := data.LoadWith(name, "train", dir, data.Options{Size: Side})
			if err != nil {
				t.Fatal(err)
			}
			tr, err := NewTrainer(c.Params.Config, tc, train)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range losses {
				if got := tr.Step(); math.Abs(got-want) > 1e-4*math.Abs(want) {
					t.Fatalf("step %d: loss %.9g, the recorded training had %.9g", i+1, got, want)
				}
			}
			want, ok := sums[isa.Active().String()]
			switch {
			case runtime.GOARCH != "amd64":
				t.Logf("%s: the bit-for-bit check is for amd64 only (Go contracts x*y+z to FMA here); the losses agree", runtime.GOARCH)
			case !ok:
				t.Errorf("no checksum recorded for kernel level %v: retrain with %q on a CPU that has it", isa.Active(), c.Meta["command"])
			case tr.P.Checksum() != want:
				t.Errorf("weights after %d steps differ from the recorded training's (checksum %s, recorded %s): the training code or data changed; retrain with %q and commit the new file",
					len(losses), tr.P.Checksum(), want, c.Meta["command"])
			}
		})
	}
}
