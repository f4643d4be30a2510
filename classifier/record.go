package classifier

import (
	"encoding/json"
	"fmt"
	"strconv"

	"mdsm/data"
	"mdsm/internal/isa"
)

// CheckSteps is how many first training steps a classifier file records (their losses,
// and the weight checksum after them at every kernel level): a test retrains that many
// steps and compares, which checks cheaply that the code and data still produce the
// committed weights' trajectory; the full retraining is the documented command.
const CheckSteps = 10

// Recorded is a trained classifier with the record a retraining is checked against.
type Recorded struct {
	Params   *Params[float32]
	Accuracy float64 // on the test set
	Correct  int     // test images classified right
	// Meta holds train, kernel, check_steps, check_losses and check_sha256 (see the file
	// format in weights.go).
	Meta map[string]string
}

// TrainRecorded trains a classifier on train at the active kernel level, evaluates it on
// test, and records the first CheckSteps losses and, for every kernel level this CPU runs,
// the weight checksum after CheckSteps steps. progress (may be nil) sees the steps done.
func TrainRecorded(cfg Config, tc TrainConfig, train, test *data.Dataset, progress func(done, total int)) (*Recorded, error) {
	sums := map[string]string{}
	for _, l := range isa.Levels() {
		restore, _ := isa.Force(l)
		t, err := NewTrainer(cfg, tc, train)
		if err == nil {
			for range CheckSteps {
				t.Step()
			}
			sums[l.String()] = t.P.Checksum()
		}
		restore()
		if err != nil {
			return nil, err
		}
	}
	t, err := NewTrainer(cfg, tc, train)
	if err != nil {
		return nil, err
	}
	var losses []float64
	for done, total := t.Steps(); done < total; done, total = t.Steps() {
		loss := t.Step()
		if done < CheckSteps {
			losses = append(losses, loss)
			if done+1 == CheckSteps && t.P.Checksum() != sums[isa.Active().String()] {
				return nil, fmt.Errorf("classifier training is not repeatable: two runs differ after %d steps (a bug)", CheckSteps)
			}
		}
		if progress != nil && ((done+1)%100 == 0 || done+1 == total) {
			progress(done+1, total)
		}
	}
	acc, correct, err := Evaluate(t.P, test)
	if err != nil {
		return nil, err
	}
	tj, _ := json.Marshal(tc)
	lj, _ := json.Marshal(losses)
	sj, _ := json.Marshal(sums)
	return &Recorded{Params: t.P, Accuracy: acc, Correct: correct, Meta: map[string]string{
		"train": string(tj), "kernel": isa.Active().String(), "check_steps": strconv.Itoa(CheckSteps),
		"check_losses": string(lj), "check_sha256": string(sj), "test_n": strconv.Itoa(test.N)}}, nil
}
