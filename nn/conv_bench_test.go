package nn

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// BenchmarkConvLayers times every 3x3 layer shape of the presets (batch 64; paper-mnist 32)
// with each algorithm, in the three passes of a training step: forward (also the tangent
// forward), data adjoint (twice per step) and weight gradient (primal and tangent terms
// summed). It reports wall and CPU time per call: on a shared machine the CPU time of
// GOMAXPROCS=1 runs is the steadier measure. autoTile's thresholds come from this benchmark.
func BenchmarkConvLayers(b *testing.B) {
	type layer struct{ cin, cout, size, n int }
	var layers []layer
	seen := map[layer]bool{}
	for _, name := range []string{"small", "medium", "paper-mnist"} {
		c, _ := PresetConfig(name)
		n := 64
		if name == "paper-mnist" {
			n = 32
		}
		for _, l := range c.convLayers()[1:] {
			k := layer{l.cin, l.cout, l.size, n}
			if !seen[k] {
				seen[k] = true
				layers = append(layers, k)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(k int) []float32 {
		x := make([]float32, k)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	for _, l := range layers {
		plane := l.n * l.size * l.size
		w, in, gout := rnd(l.cout*l.cin*9), rnd(l.cin*plane), rnd(l.cout*plane)
		inT, goutT := rnd(l.cin*plane), rnd(l.cout*plane)
		out, gin := make([]float32, l.cout*plane), make([]float32, l.cin*plane)
		for _, algo := range []ConvAlgorithm{ConvDirect, ConvWinograd2, ConvWinograd4} {
			m := &Model[float32]{}
			c := conv[float32]{w: w, cin: l.cin, cout: l.cout, k: 3, gw: make([]float32, len(w)), wc: &m.wino, flip: &m.flip}
			c.tile, c.tileW = winogradTiles(algo, true, l.cin, l.cout, l.size)
			passes := []struct {
				name string
				f    func()
			}{
				{"forward", func() { c.forward(in, l.n, l.size, out, nil, false) }},
				{"adjoint", func() { c.backwardData(gout, l.n, l.size, gin, nil) }},
				{"wgrad", func() { c.backwardWeights(in, gout, inT, goutT, l.n, l.size, nil) }},
			}
			for _, p := range passes {
				b.Run(fmt.Sprintf("%dx%d_%dto%d_b%d/%s/%s", l.size, l.size, l.cin, l.cout, l.n, p.name, algo), func(b *testing.B) {
					p.f()
					cpu0 := cpuTime()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						p.f()
					}
					b.StopTimer()
					b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
				})
			}
		}
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
