package core

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// FuzzParseMetrics: arbitrary metrics.jsonl content never panics; what parses re-encodes
// and parses back to the same records; the lenient reader keeps at least as many.
func FuzzParseMetrics(f *testing.F) {
	f.Add([]byte(`{"step":1,"loss":2.5,"norm_loss":0.00025,"lr":0.001,"images_per_s":300,"elapsed_s":0.2,"time":"2025-01-01T00:00:00Z"}` + "\n"))
	f.Add([]byte("{\"step\":1}\n{\"step\":2,\"lo"))
	f.Add([]byte("{\"step\":1}\n\x00\x00\x00\n{\"step\":3}\n"))
	f.Add([]byte("\n\n  \n"))
	f.Add([]byte(`{"step":"x"}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := ParseMetrics(b, "fuzz")
		lenient, _ := parseMetricsLenient(b)
		if len(lenient) < len(recs) {
			t.Fatalf("lenient reader kept %d records, strict %d", len(lenient), len(recs))
		}
		if err != nil {
			return
		}
		var out []byte
		for _, r := range recs {
			line, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(append(out, line...), '\n')
		}
		again, err := ParseMetrics(out, "again")
		if err != nil || len(again) != len(recs) {
			t.Fatalf("re-encoded records do not parse back: %v (%d vs %d)", err, len(again), len(recs))
		}
	})
}

// FuzzDecodeRunConfig: arbitrary config JSON never panics, and a config that validates
// can be planned for without absurd numbers (noise levels, learning rates, the memory
// estimate, the sampler's schedule).
func FuzzDecodeRunConfig(f *testing.F) {
	def, _ := json.Marshal(DefaultRunConfig())
	f.Add(def)
	paper, _ := json.Marshal(PaperRunConfig("cifar10"))
	f.Add(paper)
	f.Add([]byte(`{"model":{"preset":"tiny"},"batch_size":8,"micro_batch":2,"nan_rollback":true}`))
	f.Add([]byte(`{"model":{"preset":"nope"}}`))
	f.Add([]byte(`{"batch_sise":3}`))
	f.Add([]byte(`{"steps":-1,"lr":1e999}`))
	f.Add([]byte(`{"model":{"in_channels":4,"image_size":256,"filters":1024,"stages":6,"extra_blocks":8},"batch_size":4096,"sample_steps":9999999999}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := DefaultRunConfig()
		if err := DecodeRunConfig(b, &c); err != nil {
			return
		}
		s, err := NoiseLevels(c)
		if err != nil || len(s) != c.BatchSize {
			t.Fatalf("valid config, noise levels %d, %v", len(s), err)
		}
		for _, v := range s {
			if !(v > 0) || math.IsInf(v, 0) {
				t.Fatalf("noise level %v", v)
			}
		}
		for _, step := range []int{0, c.Warmup, c.Steps - 1} {
			if lr := LearningRate(c, step); math.IsNaN(lr) || lr < 0 || lr > c.LR {
				t.Fatalf("lr %v at step %d", lr, step)
			}
		}
		if m := EstimateMemory(c); m <= 0 {
			t.Fatalf("memory estimate %d", m)
		}
		if c.SampleEvery > 0 {
			if err := c.SamplerConfig().Schedule.Validate(); err != nil {
				t.Fatalf("valid config with an invalid sampler schedule: %v", err)
			}
		}
	})
}

// FuzzCheckState: an arbitrary checkpoint sidecar never panics the checks, and one they
// accept names the files of its own step and has an Adam step, learning-rate scale and
// batcher position consistent with it.
func FuzzCheckState(f *testing.F) {
	good := TrainState{Format: stateFormat, Step: 4, Config: DefaultRunConfig(), AdamT: 4,
		Weights: "step-00000004.safetensors", Optimizer: "step-00000004.adam.safetensors"}
	good.NoiseRNG, _ = rand.NewPCG(1, 3).MarshalBinary()
	good.Batcher.RNG, _ = rand.NewPCG(1, 2).MarshalBinary()
	good.Batcher.N, good.Batcher.Pos = 6000, 32
	b, _ := json.Marshal(good)
	f.Add(b, "step-00000004.json")
	good.Rollbacks, good.LRScale = 1, 0.5
	b, _ = json.Marshal(good)
	f.Add(b, "step-00000004.json")
	f.Add([]byte(`{"format":"mdsm-train-state-v1","step":-1,"weights":"../x"}`), "step-x.json")
	f.Fuzz(func(t *testing.T, b []byte, name string) {
		var st TrainState
		if json.Unmarshal(b, &st) != nil {
			return
		}
		if CheckState(st, name) != nil {
			return
		}
		if st.Weights != fmt.Sprintf("step-%08d.safetensors", st.Step) || st.AdamT != st.Step ||
			st.Batcher.Pos > st.Batcher.N || st.Rollbacks > MaxNaNRollbacks || math.IsNaN(st.Elapsed) {
			t.Fatalf("accepted an inconsistent state %+v", st)
		}
	})
}
