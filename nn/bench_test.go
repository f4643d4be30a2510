package nn

import (
	"math/rand/v2"
	"testing"
)

// benchStep times one MDSM training step's network work (EnergyGrad + DirectionalGrad) for
// a preset at a batch size, reporting images/s.
func benchStep(b *testing.B, preset string, batch int, train bool) {
	c, err := PresetConfig(preset)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	p := InitParams[float32](c, rng)
	m := NewModel(p)
	x := make([]float32, batch*c.Dim())
	for i := range x {
		x[i] = rng.Float32()
	}
	e, g := make([]float32, batch), make([]float32, len(x))
	grads := NewParams[float32](c)
	m.EnergyGrad(x, batch, e, g)
	if train {
		m.DirectionalGrad(g, grads)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.EnergyGrad(x, batch, e, g)
		if train {
			m.DirectionalGrad(g, grads)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "img/s")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/step")
	// The process's CPU time per step: with GOMAXPROCS=1 the steadier measure on a machine
	// shared with other work.
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/step")
}

func BenchmarkTrainStepTiny64(b *testing.B)       { benchStep(b, "tiny", 64, true) }
func BenchmarkTrainStepSmall64(b *testing.B)      { benchStep(b, "small", 64, true) }
func BenchmarkTrainStepMedium64(b *testing.B)     { benchStep(b, "medium", 64, true) }
func BenchmarkTrainStepPaperMNIST32(b *testing.B) { benchStep(b, "paper-mnist", 32, true) }
func BenchmarkLangevinPaperMNIST64(b *testing.B)  { benchStep(b, "paper-mnist", 64, false) }
func BenchmarkLangevinSmall64(b *testing.B)       { benchStep(b, "small", 64, false) }
