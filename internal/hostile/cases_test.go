package hostile

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Argument lists the cases share.
func sampleArgs(src string, extra ...string) []string {
	return append([]string{"sample", src, "--n", "2", "--steps", "3", "--out", "out/s"}, extra...)
}

func trainArgs(dir string, extra ...string) []string {
	return append([]string{"train", "--run-dir", dir, "--preset", "tiny", "--batch", "8", "--steps", "2",
		"--checkpoint-every", "2", "--sample-every", "0", "--threads", "1", "--quiet"}, extra...)
}

func resumeArgs(extra ...string) []string {
	return append([]string{"train", "--resume", "run", "--steps", "6", "--threads", "1", "--quiet"}, extra...)
}

// resumed is what a successful resume may change in the run.
var resumed = []string{"run/**"}

// sampled is what a successful `sample ... --out out/s` writes.
var sampled = []string{"out", "out/s.png", "out/s.npy", "out/s-energy.csv"}

// args is a setup that only returns fixed arguments (after copying the base run when the
// first argument names it).
func args(a ...string) func(w *world) []string {
	return func(w *world) []string {
		for _, x := range a {
			if x == "run" || strings.HasPrefix(x, "run/") {
				w.run()
				break
			}
		}
		return a
	}
}

// hugeConfig is the largest network nn.Config.Validate allows: about 4e11 parameters.
const hugeConfig = `{"preset":"huge","in_channels":4,"image_size":256,"filters":1024,"stages":6,"extra_blocks":8}`

// lyingCheckpoint is a 50 KB safetensors file whose metadata claims hugeConfig.
func lyingCheckpoint() []byte {
	return safetensors(map[string]string{"config": hugeConfig, "format": "mdsm-energy-v1", "step": "4"},
		[]string{"stem.weight"}, [][]int{{12000}}, [][]float32{make([]float32, 12000)})
}

// emptyPNGs is a shared folder of 60,000 empty .png files, made once.
var emptyPNGs = sync1(func() string {
	dir := filepath.Join(fixtures, "empty-pngs")
	os.MkdirAll(dir, 0o755)
	for i := range 60000 {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("%05d.png", i)), nil, 0o644)
	}
	return dir
})

func cases() []hcase {
	var cs []hcase
	add := func(c ...hcase) { cs = append(cs, c...) }

	// 1. Allocation driven by untrusted metadata: headers and counts are checked against the
	// real file size (and the memory available) before anything is allocated.
	add(
		hcase{class: "alloc", name: "checkpoint metadata claims the largest network", code: 1,
			setup: func(w *world) []string { return sampleArgs(w.write("lie.safetensors", lyingCheckpoint())) },
			says:  []string{"lie.safetensors", "does not match"}},
		hcase{class: "alloc", name: "lying newest checkpoint is skipped on resume", code: 0,
			setup: func(w *world) []string {
				w.run()
				w.write(ckpt4+".safetensors", lyingCheckpoint())
				return resumeArgs()
			},
			says: []string{"skipped damaged checkpoint", "step-00000004.safetensors", "resumed from run/checkpoints/step-00000002.safetensors"}, allow: resumed},
		hcase{class: "alloc", name: "safetensors header length 2^60", code: 1,
			setup: func(w *world) []string {
				return sampleArgs(w.write("h.safetensors", append([]byte{0, 0, 0, 0, 0, 0, 0, 0x10}, make([]byte, 100)...)))
			},
			says: []string{"h.safetensors", "header length"}},
		hcase{class: "alloc", name: "safetensors tensor shape 2^31 x 2^31", code: 1,
			setup: func(w *world) []string {
				b := safetensors(map[string]string{"config": hugeConfig}, []string{"stem.weight"}, [][]int{{1 << 31, 1 << 31}}, [][]float32{{1}})
				return sampleArgs(w.write("s.safetensors", b))
			},
			says: []string{"s.safetensors", "larger than the file"}},
		hcase{class: "alloc", name: "IDX header claims 2^31 images", code: 1,
			setup: func(w *world) []string {
				w.write("d/mnist/t10k-images-idx3-ubyte", idx([]uint32{1 << 31, 28, 28}, make([]byte, 64)))
				w.write("d/mnist/t10k-labels-idx1-ubyte", idx([]uint32{1}, []byte{1}))
				return []string{"denoise", w.run(), "--data", "mnist", "--data-dir", "d", "--n", "4"}
			},
			says: []string{"d/mnist/t10k-images-idx3-ubyte", "refusing to read it", "mdsm download mnist"}},
		hcase{class: "alloc", name: "gzip IDX claims 60000 images in 100 bytes", code: 1,
			setup: func(w *world) []string {
				w.write("d/mnist/t10k-images-idx3-ubyte.gz", gzipped(idx([]uint32{60000, 28, 28}, make([]byte, 10))))
				w.write("d/mnist/t10k-labels-idx1-ubyte", idx([]uint32{1}, []byte{1}))
				return []string{"denoise", w.run(), "--data", "mnist", "--data-dir", "d", "--n", "4"}
			},
			says: []string{"t10k-images-idx3-ubyte.gz", "mdsm download mnist"}},
		hcase{class: "alloc", name: "CIFAR batch not a whole number of records", code: 1,
			setup: func(w *world) []string {
				for i := 2; i <= 5; i++ {
					w.write(fmt.Sprintf("d/cifar10/cifar-10-batches-bin/data_batch_%d.bin", i), make([]byte, 3073))
				}
				w.write("d/cifar10/cifar-10-batches-bin/data_batch_1.bin", make([]byte, 3073*2+5))
				return trainArgs("r", "--data", "cifar10", "--data-dir", "d", "--in-channels", "3", "--image-size", "32", "--stages", "1")
			},
			says: []string{"data_batch_1.bin", "3073", "mdsm download cifar10"}},
		hcase{class: "alloc", name: "60000 empty png files under a memory limit", code: 1,
			setup: func(w *world) []string {
				w.env = append(w.env, "MDSM_MEMORY_LIMIT=100MiB")
				return trainArgs("r", "--data", emptyPNGs(), "--in-channels", "3", "--image-size", "32", "--stages", "1")
			},
			says: []string{"dataset", "MDSM_MEMORY_LIMIT", "fewer images"}},
		hcase{class: "alloc", name: "60000 empty png files at 256x256", code: 1,
			setup: func(w *world) []string {
				return trainArgs("r", "--data", emptyPNGs(), "--in-channels", "3", "--image-size", "256", "--stages", "1")
			},
			says: []string{"dataset", "GiB", "fewer images"}},
		hcase{class: "alloc", name: "60000 empty png files fail at the first", code: 1,
			setup: func(w *world) []string {
				return trainArgs("r", "--data", emptyPNGs(), "--in-channels", "3", "--image-size", "16", "--stages", "1")
			},
			says: []string{"00000.png", "empty file", "remove or replace"}},
		hcase{class: "alloc", name: "png header claims 100000x100000", code: 1,
			setup: func(w *world) []string {
				w.write("imgs/a.png", pngHeader(100000, 100000))
				return trainArgs("r", "--data", "imgs", "--in-channels", "3", "--image-size", "16", "--stages", "1")
			},
			says: []string{"imgs/a.png", "claims 100000x100000"}},
		hcase{class: "alloc", name: "mask png claims 100000x100000", code: 1,
			setup: func(w *world) []string {
				w.write("m.png", pngHeader(100000, 100000))
				return []string{"inpaint", w.run(), "--mask", "png:m.png", "--n", "1", "--steps", "2"}
			},
			says: []string{"m.png", "claims 100000x100000"}},
		hcase{class: "alloc", name: "grid to score claims 100000x100000", code: 1,
			setup: func(w *world) []string { return []string{"score", w.write("g.png", pngHeader(100000, 100000))} },
			says:  []string{"g.png", "claims 100000x100000"}},
		hcase{class: "alloc", name: "samples to score of 3 GB", code: 1,
			setup: func(w *world) []string { return []string{"score", w.sparse("s.npy", 3<<30)} },
			says:  []string{"s.npy", "more than a samples file"}},
		hcase{class: "alloc", name: "sample --n 100000000", code: 1, setup: args(sampleArgs("run", "--n", "100000000")...),
			says: []string{"sampling 100000000 images", "--n"}},
		hcase{class: "alloc", name: "config.json of 2 GB", code: 1,
			setup: func(w *world) []string { w.run(); w.sparse("run/config.json", 2<<30); return resumeArgs() },
			says:  []string{"run/config.json", "more than a run config"}},
		hcase{class: "alloc", name: "metrics.jsonl of 2 GB", code: 1,
			setup: func(w *world) []string { w.run(); w.sparse("run/metrics.jsonl", 2<<30); return resumeArgs() },
			says:  []string{"run/metrics.jsonl", "more than a metrics file"}, allow: []string{"run/.lock"}},
		hcase{class: "alloc", name: "checkpoint sidecar of 200 MB", code: 0,
			setup: func(w *world) []string { w.run(); w.sparse(ckpt4+".json", 200<<20); return sampleArgs("run") },
			says:  []string{"step-00000002.safetensors"}, allow: sampled},
		hcase{class: "alloc", name: "schedule file of 1 GB", code: 1,
			setup: func(w *world) []string {
				w.sparse("big.json", 1<<30)
				return sampleArgs(w.run(), "--schedule", "big.json")
			},
			says: []string{"big.json", "more than a sampler file"}},
	)

	// 2. Non-regular files: a FIFO, a device or a directory where a file belongs is refused
	// at once, with its name, never waited on.
	fifoCase := func(name string, setup func(w *world) []string, code int, says ...string) hcase {
		return hcase{class: "nonregular", name: name, setup: setup, code: code, says: says}
	}
	add(
		fifoCase("FIFO as a checkpoint", func(w *world) []string { return sampleArgs(w.fifo("f.safetensors")) }, 1, "f.safetensors", "FIFO"),
		fifoCase("FIFO as config.json", func(w *world) []string { w.run(); w.fifo("run/config.json"); return resumeArgs() }, 1, "run/config.json", "FIFO"),
		hcase{class: "nonregular", name: "FIFO as metrics.jsonl", code: 1, allow: []string{"run/.lock"},
			setup: func(w *world) []string { w.run(); w.fifo("run/metrics.jsonl"); return resumeArgs() },
			says:  []string{"run/metrics.jsonl", "FIFO"}},
		fifoCase("FIFO as a schedule", func(w *world) []string { return sampleArgs(w.run(), "--schedule", w.fifo("sch.json")) }, 1, "sch.json", "FIFO"),
		fifoCase("FIFO as --config", func(w *world) []string { return trainArgs("r", "--config", w.fifo("c.json")) }, 1, "c.json", "FIFO"),
		fifoCase("FIFO as an IDX file", func(w *world) []string {
			w.fifo("d/mnist/t10k-images-idx3-ubyte.gz")
			return []string{"denoise", w.run(), "--data", "mnist", "--data-dir", "d", "--n", "2"}
		}, 1, "t10k-images-idx3-ubyte.gz", "FIFO"),
		fifoCase("FIFO as a CIFAR batch", func(w *world) []string {
			w.fifo("d/cifar10/cifar-10-batches-bin/test_batch.bin")
			return []string{"energy", w.run(), "--data", "cifar10", "--data-dir", "d", "--n", "2"}
		}, 1, "test_batch.bin", "FIFO"),
		fifoCase("FIFO as a folder image", func(w *world) []string {
			w.fifo("imgs/b.png")
			return trainArgs("r", "--data", "imgs", "--in-channels", "3", "--image-size", "16", "--stages", "1")
		}, 1, "imgs/b.png", "FIFO"),
		fifoCase("FIFO as a mask", func(w *world) []string {
			return []string{"inpaint", w.run(), "--mask", "png:" + w.fifo("m.png"), "--n", "1", "--steps", "2"}
		}, 1, "m.png", "FIFO"),
		hcase{class: "nonregular", name: "FIFO as the newest sidecar", code: 0, allow: sampled,
			setup: func(w *world) []string { w.run(); w.fifo(ckpt4 + ".json"); return sampleArgs("run") },
			says:  []string{"step-00000002.safetensors"}},
		hcase{class: "nonregular", name: "FIFO as the newest sidecar on resume", code: 0, allow: resumed,
			setup: func(w *world) []string { w.run(); w.fifo(ckpt4 + ".json"); return resumeArgs() },
			says:  []string{"skipped damaged checkpoint", "FIFO", "at step 2"}},
		fifoCase("FIFO as samples to score", func(w *world) []string { return []string{"score", w.fifo("s.npy")} }, 1, "s.npy", "FIFO"),
		fifoCase("FIFO as a grid to score", func(w *world) []string { return []string{"score", w.fifo("g.png")} }, 1, "g.png", "FIFO"),
		fifoCase("character device as a checkpoint", func(w *world) []string { return sampleArgs(w.link("zero.safetensors", "/dev/zero")) }, 1, "zero.safetensors", "character device"),
		fifoCase("directory as config.json", func(w *world) []string {
			w.run()
			os.Remove(w.abs("run/config.json"))
			os.Mkdir(w.abs("run/config.json"), 0o755)
			return resumeArgs()
		}, 1, "run/config.json", "directory"),
		fifoCase("directory as a schedule", func(w *world) []string {
			os.Mkdir(w.abs("sch"), 0o755)
			return sampleArgs(w.run(), "--schedule", "sch")
		}, 1, "sch", "directory"),
	)

	// 3. Writes: never through a symbolic link at the last component, never over an existing
	// output without --force, with the umask honoured, never a hidden file for --out DIR/.
	add(
		hcase{class: "writes", name: ".lock is a link in a new run dir", code: 1, allow: []string{"r", "r/checkpoints", "r/samples"},
			setup: func(w *world) []string { w.link("r/.lock", w.victim); return trainArgs("r") },
			says:  []string{"r/.lock", "symbolic link"}, check: victimIntact},
		hcase{class: "writes", name: ".lock is a link on resume", code: 1,
			setup: func(w *world) []string { w.run(); w.link("run/.lock", w.victim); return resumeArgs() },
			says:  []string{"run/.lock", "symbolic link"}, check: victimIntact},
		hcase{class: "writes", name: "metrics.jsonl is a link in a new run dir", code: 1, allow: []string{"r", "r/checkpoints", "r/samples", "r/.lock"},
			setup: func(w *world) []string { w.link("r/metrics.jsonl", w.victim); return trainArgs("r") },
			says:  []string{"r/metrics.jsonl", "symbolic link"}, check: victimIntact},
		hcase{class: "writes", name: "metrics.jsonl is a link on resume", code: 1, allow: []string{"run/.lock"},
			setup: func(w *world) []string { w.run(); w.link("run/metrics.jsonl", w.victim); return resumeArgs() },
			says:  []string{"run/metrics.jsonl", "symbolic link"}, check: victimIntact},
		hcase{class: "writes", name: "config.json is a link on resume with new steps", code: 1, allow: []string{"run/.lock"},
			setup: func(w *world) []string {
				w.run()
				b, _ := os.ReadFile(w.abs("run/config.json"))
				os.WriteFile(w.victim, b, 0o600)
				w.link("run/config.json", w.victim)
				return resumeArgs()
			},
			says: []string{"run/config.json", "symbolic link"},
			check: func(w *world, _ string) error {
				if b, _ := os.ReadFile(w.victim); !strings.Contains(string(b), `"steps": 4`) {
					return fmt.Errorf("the linked config changed: %s", b)
				}
				return nil
			}},
		hcase{class: "writes", name: "next checkpoint is a link", code: 1, allow: []string{"run/**"},
			setup: func(w *world) []string {
				w.run()
				w.link("run/checkpoints/step-00000006.safetensors", w.victim)
				return resumeArgs()
			},
			says: []string{"step-00000006.safetensors", "symbolic link", "remove the link"}, check: victimIntact},
		hcase{class: "writes", name: "periodic sample grid is a link", code: 0, allow: []string{"r/**"},
			setup: func(w *world) []string {
				for s := 2; s <= 8; s += 2 {
					w.link(fmt.Sprintf("r/samples/step-%08d.png", s), w.victim)
				}
				w.write("c.json", []byte(`{"model":{"preset":"tiny"},"batch_size":8,"steps":60,"sample_every":2,"sample_count":4,"sample_steps":5}`))
				return []string{"train", "--config", "c.json", "--run-dir", "r", "--threads", "1"}
			},
			says: []string{"sample grid failed", "r/samples/step-00000002.png", "symbolic link"}, check: victimIntact},
		hcase{class: "writes", name: "energy --out is a link", code: 1,
			setup: func(w *world) []string {
				return []string{"energy", w.run(), "--n", "4", "--out", w.link("e.csv", w.victim)}
			},
			says: []string{"e.csv", "already exists", "--force"}, check: victimIntact},
		hcase{class: "writes", name: "energy --out is a link, with --force", code: 1,
			setup: func(w *world) []string {
				return []string{"energy", w.run(), "--n", "4", "--force", "--out", w.link("e.csv", w.victim)}
			},
			says: []string{"e.csv", "symbolic link"}, check: victimIntact},
		hcase{class: "writes", name: "sample -energy.csv is a dangling link", code: 1,
			setup: func(w *world) []string {
				w.link("out/s-energy.csv", filepath.Join(w.outside, "created"))
				return sampleArgs(w.run(), "--force")
			},
			says: []string{"out/s-energy.csv", "symbolic link"},
			check: func(w *world, _ string) error {
				if _, err := os.Lstat(filepath.Join(w.outside, "created")); err == nil {
					return fmt.Errorf("created the link's target")
				}
				return nil
			}},
		hcase{class: "writes", name: "sample over an existing output", code: 1,
			setup: func(w *world) []string { w.write("out/s.png", []byte("mine")); return sampleArgs(w.run()) },
			says:  []string{"out/s.png", "already exists", "--force"}},
		hcase{class: "writes", name: "sample over an existing output with --force", code: 0, allow: sampled,
			setup: func(w *world) []string { w.write("out/s.png", []byte("mine")); return sampleArgs(w.run(), "--force") },
			says:  []string{"2 samples"}},
		hcase{class: "writes", name: "sample --out DIR/ writes no hidden file", code: 0, allow: []string{"o", "o/sample-*"},
			setup: func(w *world) []string { return []string{"sample", w.run(), "--n", "2", "--steps", "3", "--out", "o/"} },
			check: func(w *world, _ string) error {
				m, _ := filepath.Glob(w.abs("o/sample-*.png"))
				if len(m) != 1 {
					return fmt.Errorf("no o/sample-DATE.png: %v", m)
				}
				return nil
			}},
		hcase{class: "writes", name: "inpaint --out existing DIR writes no hidden file", code: 0, allow: []string{"o/inpaint-*"},
			setup: func(w *world) []string {
				os.Mkdir(w.abs("o"), 0o755)
				return []string{"inpaint", w.run(), "--n", "1", "--steps", "3", "--out", "o"}
			},
			check: func(w *world, _ string) error {
				if m, _ := filepath.Glob(w.abs("o/inpaint-left-*.png")); len(m) != 1 {
					return fmt.Errorf("no o/inpaint-left-DATE.png: %v", m)
				}
				return nil
			}},
		hcase{class: "writes", name: "energy --out /dev/null --force", code: 1,
			setup: func(w *world) []string {
				return []string{"energy", w.run(), "--n", "4", "--out", "/dev/null", "--force"}
			},
			says: []string{"/dev/null", "character device"}},
		hcase{class: "writes", name: "energy --out an existing directory", code: 0, allow: []string{"o/energies-*.csv"},
			setup: func(w *world) []string {
				os.Mkdir(w.abs("o"), 0o755)
				return []string{"energy", w.run(), "--n", "4", "--out", "o"}
			},
			says: []string{"energies -> o/energies-"}},
		hcase{class: "writes", name: "umask 077 for run files and outputs", code: 0, allow: []string{"r", "r/**", "out", "out/*"},
			setup: func(w *world) []string {
				w.shell = "umask 077 && " + mdsmBin + ` ` + strings.Join(trainArgs("r"), " ")
				return sampleArgs("r")
			},
			check: func(w *world, _ string) error {
				var bad []string
				filepath.WalkDir(w.dir, func(p string, d os.DirEntry, err error) error {
					if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
						bad = append(bad, fmt.Sprintf("%s %v", p, fi.Mode().Perm()))
					}
					return nil
				})
				if len(bad) > 0 {
					return fmt.Errorf("files readable by others under umask 077: %v", bad)
				}
				return nil
			}},
	)

	// 4. Silently wrong results: non-finite settings, weights and files fail with the cause
	// named; a checkpoint whose sidecar lies is skipped; nothing prints NaN with status 0.
	huge := func(w *world) {
		w.run()
		w.rewriteWeights(ckpt4+".safetensors", func(i int, v float32) float32 { return v * 1e30 })
	}
	add(
		hcase{class: "silent", name: "NaN checkpoint", code: 1,
			setup: func(w *world) []string {
				w.run()
				w.rewriteWeights(ckpt4+".safetensors", func(i int, v float32) float32 { return float32(math.NaN()) })
				return sampleArgs(ckpt4 + ".safetensors")
			},
			says: []string{"step-00000004.safetensors", "not finite"}},
		hcase{class: "silent", name: "NaN newest checkpoint skipped on resume", code: 0, allow: resumed,
			setup: func(w *world) []string {
				w.run()
				w.rewriteWeights(ckpt4+".safetensors", func(i int, v float32) float32 { return float32(math.Inf(1)) })
				return resumeArgs()
			},
			says: []string{"skipped damaged checkpoint", "not finite", "at step 2"},
			check: func(w *world, _ string) error {
				if _, err := os.Stat(w.abs(ckpt4 + ".json.damaged")); err != nil {
					return fmt.Errorf("NaN checkpoint not set aside: %v", err)
				}
				return nil
			}},
		hcase{class: "silent", name: "weights 1e30: sample diverges", code: 1, setup: func(w *world) []string { huge(w); return sampleArgs("run") },
			says: []string{"diverged", "eps"}},
		hcase{class: "silent", name: "weights 1e30: energy overflows", code: 1, setup: func(w *world) []string { huge(w); return []string{"energy", "run", "--n", "4", "--out", "e.csv"} },
			says: []string{"energy of image", "overflowed"}},
		hcase{class: "silent", name: "weights 1e30: denoise overflows", code: 1, setup: func(w *world) []string { huge(w); return []string{"denoise", "run", "--n", "4"} },
			says: []string{"not a finite"}},
		hcase{class: "silent", name: "weights 1e30: neighbors diverge", code: 1, setup: func(w *world) []string {
			huge(w)
			return []string{"neighbors", "run", "--n", "2", "--k", "2", "--steps", "3"}
		},
			says: []string{"diverged"}},
		hcase{class: "silent", name: "weights 1e30: inpaint diverges", code: 1, setup: func(w *world) []string { huge(w); return []string{"inpaint", "run", "--n", "1", "--steps", "3"} },
			says: []string{"diverged", "nothing written"}},
		hcase{class: "silent", name: "weights 1e30: nll", code: 1, setup: func(w *world) []string {
			huge(w)
			return []string{"nll", "run", "--steps", "3", "--chains", "2", "--batch", "2", "--n", "2"}
		}, says: []string{"run/checkpoints/step-00000004.safetensors", "overflowed"}},
		hcase{class: "silent", name: "t0 1e300 diverges", code: 1, setup: args(sampleArgs("run", "--t0", "1e300")...),
			says: []string{"diverged", "temperature 1e+300"}},
		hcase{class: "silent", name: "eps 1e20 diverges", code: 1, setup: args(sampleArgs("run", "--eps", "1e20")...),
			says: []string{"diverged", "eps 1e+20"}},
		hcase{class: "silent", name: "eps NaN", code: 1, setup: args(sampleArgs("run", "--eps", "NaN")...), says: []string{"--eps", "finite"}},
		hcase{class: "silent", name: "t0 +Inf", code: 1, setup: args(sampleArgs("run", "--t0", "+Inf")...), says: []string{"--t0", "finite"}},
		hcase{class: "silent", name: "init-std NaN", code: 1, setup: args(sampleArgs("run", "--init-std", "NaN")...), says: []string{"--init-std", "finite"}},
		hcase{class: "silent", name: "sigmas with NaN", code: 1, setup: args("denoise", "run", "--sigmas", "0.1,NaN"), says: []string{"--sigmas", "finite number > 0"}},
		hcase{class: "silent", name: "noise level Inf", code: 1, setup: args("energy", "run", "--noise", "Inf"), says: []string{"--noise", "finite"}},
		hcase{class: "silent", name: "schedule file with unsorted points", code: 1,
			setup: func(w *world) []string {
				return sampleArgs(w.run(), "--schedule", w.write("s.json", []byte(`{"schedule":{"kind":"piecewise","steps":5,"points":[{"frac":0.5,"t":1},{"frac":0.2,"t":2}]}}`)))
			},
			says: []string{"sampler file s.json", "not sorted"}},
		hcase{class: "silent", name: "schedule file with a negative temperature", code: 1,
			setup: func(w *world) []string {
				return sampleArgs(w.run(), "--schedule", w.write("s.json", []byte(`{"schedule":{"kind":"exp","steps":5,"t0":-3}}`)))
			},
			says: []string{"sampler file s.json", ">= 0"}},
		hcase{class: "silent", name: "schedule file with a huge temperature", code: 1,
			setup: func(w *world) []string {
				return sampleArgs(w.run(), "--schedule", w.write("s.json", []byte(`{"schedule":{"kind":"const","steps":5,"t0":1e300}}`)))
			},
			says: []string{"diverged"}},
		hcase{class: "silent", name: "sidecar step differs from its file name", code: 0, allow: resumed,
			setup: func(w *world) []string {
				w.run()
				w.editState(ckpt4+".json", func(st map[string]any) { st["step"] = 3 })
				return resumeArgs()
			},
			says: []string{"skipped damaged checkpoint", "says step 4 but the state says step 3", "at step 2"}},
		hcase{class: "silent", name: "sidecar names the weights of another step", code: 0, allow: resumed,
			setup: func(w *world) []string {
				w.run()
				w.editState(ckpt4+".json", func(st map[string]any) { st["weights"] = "step-00000002.safetensors" })
				return resumeArgs()
			},
			says: []string{"skipped damaged checkpoint", "weights file", "at step 2"}},
		hcase{class: "silent", name: "sidecar adam step differs", code: 0, allow: resumed,
			setup: func(w *world) []string {
				w.run()
				w.editState(ckpt4+".json", func(st map[string]any) { st["adam_t"] = 40 })
				return resumeArgs()
			},
			says: []string{"skipped damaged checkpoint", "Adam step 40", "at step 2"}},
		hcase{class: "silent", name: "sidecar lr scale without a rollback", code: 0, allow: resumed,
			setup: func(w *world) []string {
				w.run()
				w.editState(ckpt4+".json", func(st map[string]any) { st["lr_scale"] = 0.001 })
				return resumeArgs()
			},
			says: []string{"skipped damaged checkpoint", "lr_scale", "at step 2"}},
		hcase{class: "silent", name: "weights file of another step", code: 0, allow: resumed,
			setup: func(w *world) []string {
				w.run()
				b, _ := os.ReadFile(w.abs(ckpt2 + ".safetensors"))
				w.write(ckpt4+".safetensors", b)
				return resumeArgs()
			},
			says: []string{"skipped damaged checkpoint", "of step \"2\", not 4", "at step 2"}},
		hcase{class: "silent", name: "config.json batch edited", code: 1, allow: []string{"run/.lock"},
			setup: func(w *world) []string {
				w.run()
				b, _ := os.ReadFile(w.abs("run/config.json"))
				w.write("run/config.json", []byte(strings.Replace(string(b), `"batch_size": 8`, `"batch_size": 16`, 1)))
				return resumeArgs()
			},
			says: []string{"config.json", "batch_size (8, now 16)"}},
		hcase{class: "silent", name: "damaged config.json is not replaced by defaults", code: 1,
			setup: func(w *world) []string { w.run(); w.write("run/config.json", []byte("{")); return sampleArgs("run") },
			says:  []string{"run/config.json", "restore it"}},
	)

	// Flags: one parser for every command; a stray argument, a flag a resume cannot honour,
	// a zero or negative size is an error naming it, never a silent default.
	flagCase := func(name string, a []string, says ...string) hcase {
		return hcase{class: "flags", name: name, code: 1, setup: args(a...), says: says}
	}
	add(
		flagCase("stray argument in train", trainArgs("r", "oops", "--steps", "5"), `unexpected argument "oops"`),
		flagCase("stray argument before the flags", []string{"train", "--preset", "tiny", "oops", "--steps", "5", "--run-dir", "r"}, `unexpected argument "oops"`),
		flagCase("stray argument in sample", sampleArgs("run", "extra"), `unexpected argument "extra"`),
		flagCase("stray argument in denoise", []string{"denoise", "run", "run"}, `unexpected argument "run"`),
		flagCase("stray argument in watch", []string{"watch", "run", "x"}, `unexpected argument "x"`),
		flagCase("stray argument in score", []string{"score", "a.npy", "b.npy"}, `unexpected argument "b.npy"`),
		hcase{class: "flags", name: "resume with --device cpu is allowed", code: 0, allow: resumed,
			setup: args(resumeArgs("--device", "cpu")...), says: []string{"done at step 6"}},
		flagCase("stray argument in bench", []string{"bench", "small"}, `unexpected argument "small"`),
		flagCase("stray argument to the workbench", []string{"--preset", "tiny", "x"}, `unexpected argument "x"`, "mdsm help"),
		flagCase("resume with --batch", resumeArgs("--batch", "4"), "--batch cannot be given", "--resume run"),
		flagCase("resume with --preset and --seed", resumeArgs("--preset", "small", "--seed", "3"), "--preset, --seed cannot be given"),
		flagCase("resume with --lr", resumeArgs("--lr", "0.1"), "--lr cannot be given"),
		flagCase("resume with --run-dir", resumeArgs("--run-dir", "elsewhere"), "--run-dir cannot be given"),
		flagCase("resume with --config", resumeArgs("--config", "c.json"), "--config cannot be given"),
		flagCase("workbench --open with --batch", []string{"--open", "run", "--batch", "4"}, "--batch cannot be given", "--open run"),
		flagCase("--filters 0", trainArgs("r", "--filters", "0"), "filters = 0"),
		flagCase("--image-size 0", trainArgs("r", "--image-size", "0"), "image_size = 0"),
		flagCase("--in-channels -1", trainArgs("r", "--in-channels", "-1"), "in_channels = -1"),
		flagCase("--extra-blocks -3", trainArgs("r", "--extra-blocks", "-3"), "extra_blocks = -3"),
		flagCase("--batch 0", trainArgs("r", "--batch", "0"), "batch_size = 0"),
		flagCase("--steps -5", trainArgs("r", "--steps", "-5"), "steps = -5"),
		flagCase("--micro-batch over the batch", trainArgs("r", "--micro-batch", "100"), "micro_batch = 100"),
		flagCase("--threads -1", trainArgs("r", "--threads", "-1"), "--threads -1"),
		flagCase("sample --n 0", sampleArgs("run", "--n", "0"), "--n 0"),
		flagCase("sample --batch -1", sampleArgs("run", "--batch", "-1"), "--batch -1"),
		flagCase("sample --steps 0", sampleArgs("run", "--steps", "0"), "--steps 0"),
		flagCase("sample --t0 -1", sampleArgs("run", "--t0", "-1"), "t0 = -1"),
		flagCase("sample --cols -1", sampleArgs("run", "--cols", "-1"), "--cols -1"),
		flagCase("sample --cols 1000000000", sampleArgs("run", "--cols", "1000000000"), "--cols 1000000000"),
		flagCase("denoise --n 0", []string{"denoise", "run", "--n", "0"}, "--n 0"),
		flagCase("denoise --sigmas -0.1", []string{"denoise", "run", "--sigmas", "-0.1"}, "--sigmas"),
		flagCase("energy --n -5", []string{"energy", "run", "--n", "-5"}, "--n -5"),
		flagCase("neighbors --k 0", []string{"neighbors", "run", "--k", "0"}, "--k 0"),
		flagCase("nll --chains 0", []string{"nll", "run", "--chains", "0"}, "--chains 0"),
		flagCase("nll --step-size NaN", []string{"nll", "run", "--step-size", "NaN"}, "step size"),
		flagCase("bench --steps 0", []string{"bench", "--steps", "0"}, "--steps 0"),
		flagCase("unknown dataset to download", []string{"download", "imagenet"}, `"imagenet"`),
		hcase{class: "flags", name: "MDSM_MEMORY_LIMIT=lots", code: 1, says: []string{"MDSM_MEMORY_LIMIT", "8GiB"},
			setup: func(w *world) []string { w.env = append(w.env, "MDSM_MEMORY_LIMIT=lots"); return trainArgs("r") }},
	)

	// 5. Panics reported by the first battery: each is now an error.
	add(
		hcase{class: "panic", name: "inpaint --offset -1", code: 1, setup: args("inpaint", "run", "--offset", "-1", "--n", "2"), says: []string{"--offset -1"}},
		hcase{class: "panic", name: "inpaint --offset past the test set", code: 1, setup: args("inpaint", "run", "--offset", "100000", "--n", "2"), says: []string{"--offset 100000"}},
		hcase{class: "panic", name: "inpaint --n -3", code: 1, setup: args("inpaint", "run", "--n", "-3"), says: []string{"--n -3"}},
		hcase{class: "panic", name: "neighbors on diverging samples", code: 1, setup: args("neighbors", "run", "--n", "2", "--k", "3", "--steps", "3", "--t0", "1e300"),
			says: []string{"diverged"}},
		hcase{class: "panic", name: "neighbors --k past the training set", code: 1, setup: args("neighbors", "run", "--n", "1", "--k", "100000", "--steps", "2"),
			says: []string{"--k 100000"}},
		hcase{class: "panic", name: "mask center:-5", code: 1, setup: args("inpaint", "run", "--mask", "center:-5", "--n", "1", "--steps", "2"), says: []string{"--mask"}},
		hcase{class: "panic", name: "mask center:100000", code: 1, setup: args("inpaint", "run", "--mask", "center:100000", "--n", "1", "--steps", "2"), says: []string{"--mask"}},
		hcase{class: "panic", name: "mask random:NaN", code: 1, setup: args("inpaint", "run", "--mask", "random:NaN", "--n", "1", "--steps", "2"), says: []string{"--mask"}},
		hcase{class: "panic", name: "denoise --sigmas ,", code: 1, setup: args("denoise", "run", "--sigmas", ","), says: []string{"--sigmas"}},
		hcase{class: "panic", name: "train on a file as --data", code: 1,
			setup: func(w *world) []string { return trainArgs("r", "--data", w.write("x.png", []byte("x"))) }, says: []string{"x.png", "not a folder"}},
		hcase{class: "panic", name: "bench unknown case", code: 1, setup: args("bench", "--config", "nope", "--steps", "1"), says: []string{}},
	)

	// 6. Unclear errors: each names the file and says what to do.
	add(
		hcase{class: "unclear", name: "schedule file not JSON", code: 1,
			setup: func(w *world) []string { return sampleArgs(w.run(), "--schedule", w.write("s.json", []byte("{oops"))) },
			says:  []string{"sampler file s.json"}},
		hcase{class: "unclear", name: "schedule file of an unknown kind", code: 1,
			setup: func(w *world) []string {
				return sampleArgs(w.run(), "--schedule", w.write("s.json", []byte(`{"schedule":{"kind":"cosine","steps":5}}`)))
			},
			says: []string{"sampler file s.json", "unknown schedule kind"}},
		hcase{class: "unclear", name: "symbolic link loop as a checkpoint", code: 1,
			setup: func(w *world) []string { w.link("b", "a"); return sampleArgs(w.link("a", "b")) },
			says:  []string{"a", "symbolic link loop"}},
		hcase{class: "unclear", name: "symbolic link loop as a data folder", code: 1,
			setup: func(w *world) []string {
				w.link("f2", "f1")
				w.link("f1", "f2")
				return trainArgs("r", "--data", "./f1")
			},
			says: []string{"f1", "symbolic link loop"}},
		hcase{class: "unclear", name: "symbolic link loop as an IDX file", code: 1,
			setup: func(w *world) []string {
				w.link("d/mnist/t10k-images-idx3-ubyte.gz", "loop")
				w.link("d/mnist/loop", "t10k-images-idx3-ubyte.gz")
				return []string{"denoise", w.run(), "--data", "mnist", "--data-dir", "d"}
			},
			says: []string{"t10k-images-idx3-ubyte.gz", "symbolic link loop"}},
		hcase{class: "unclear", name: "new run in a read-only directory", code: 1,
			setup: func(w *world) []string {
				os.Mkdir(w.abs("ro"), 0o755)
				os.Chmod(w.abs("ro"), 0o555)
				w.nobody = true
				return trainArgs("ro/r")
			},
			says: []string{"ro/r", "choose a writable --run-dir"},
			check: func(w *world, out string) error {
				if strings.Contains(out, "--resume") || strings.Contains(out, "checkpoint is intact") {
					return fmt.Errorf("a new run is told to resume")
				}
				return nil
			}},
		hcase{class: "unclear", name: "missing checkpoint", code: 1, setup: args(sampleArgs("nothing.safetensors")...), says: []string{"nothing.safetensors", "no such file"}},
		hcase{class: "unclear", name: "missing dataset names the download", code: 1, setup: args("denoise", "run", "--data", "mnist", "--data-dir", "d"),
			says: []string{"d/mnist", "mdsm download mnist --data-dir d"}},
		hcase{class: "unclear", name: "truncated IDX names the download", code: 1,
			setup: func(w *world) []string {
				w.write("d/mnist/t10k-images-idx3-ubyte", idx([]uint32{3, 28, 28}, make([]byte, 100)))
				w.write("d/mnist/t10k-labels-idx1-ubyte", idx([]uint32{3}, []byte{1, 2, 3}))
				return []string{"denoise", w.run(), "--data", "mnist", "--data-dir", "d", "--n", "2"}
			},
			says: []string{"t10k-images-idx3-ubyte", "truncated", "mdsm download mnist"}},
		hcase{class: "unclear", name: "weights named by the sidecar are missing", code: 0, allow: sampled,
			setup: func(w *world) []string { w.run(); os.Remove(w.abs(ckpt4 + ".safetensors")); return sampleArgs("run") },
			says:  []string{"step-00000002.safetensors"}},
		hcase{class: "unclear", name: "resume a directory that is not a run", code: 1,
			setup: func(w *world) []string { os.Mkdir(w.abs("run"), 0o755); return resumeArgs() },
			says:  []string{"run is not a run directory", "config.json"}},
		hcase{class: "unclear", name: "run dir is a file", code: 1,
			setup: func(w *world) []string { w.write("f", nil); return trainArgs("f") },
			says:  []string{"f", "not a directory", "--run-dir"}},
	)
	// Every setting of the run-setting table, through the flags generated from it.
	add(fieldCases()...)
	return cs
}
