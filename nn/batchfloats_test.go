package nn

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestBatchFloats: Config.BatchFloats, which the run's memory estimate counts, is what a
// model allocates for a batch: the heap a first EnergyGrad and a first DirectionalGrad
// allocate (direct convolutions: no Winograd scratch, and the rotated kernel of the data
// adjoints; a model run before makes the GEMM workspaces) is 4 bytes per float of it, and
// at most 2% more (the heap rounds large buffers up to 8 KiB pages).
func TestBatchFloats(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
	}{
		{"stem+head", Config{InChannels: 1, ImageSize: 8, Filters: 4}},
		{"tiny", Config{InChannels: 1, ImageSize: 14, Filters: 16, Stages: 1}},
		{"small", Config{InChannels: 1, ImageSize: 14, Filters: 8, Stages: 1, ExtraBlocks: 1}},
		{"two stages", Config{InChannels: 3, ImageSize: 16, Filters: 8, Stages: 2, ExtraBlocks: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 64
			c := tc.c
			p := InitParams[float32](c, rand.New(rand.NewPCG(1, 2)))
			x := make([]float32, n*c.Dim())
			for i := range x {
				x[i] = float32(i%5) / 5
			}
			e, g := make([]float32, n), make([]float32, len(x))
			grads := NewParams[float32](c)
			step := func(m *Model[float32]) (energy, train uint64) {
				var m0, m1, m2 runtime.MemStats
				runtime.ReadMemStats(&m0)
				m.EnergyGrad(x, n, e, g)
				runtime.ReadMemStats(&m1)
				m.DirectionalGrad(g, grads)
				runtime.ReadMemStats(&m2)
				return m1.TotalAlloc - m0.TotalAlloc, m2.TotalAlloc - m1.TotalAlloc
			}
			newModel := func() *Model[float32] {
				m := NewModel(p)
				m.SetConvAlgorithm(ConvDirect)
				return m
			}
			step(newModel())
			m := newModel()
			gotE, gotT := step(m)
			wantE, wantT := c.BatchFloats()
			for _, q := range []struct {
				pass      string
				got, want uint64
			}{{"EnergyGrad", gotE, 4 * (n*uint64(wantE) + uint64(m.flip.size))}, {"DirectionalGrad", gotT, 4 * n * uint64(wantT)}} {
				t.Logf("%s: allocated %d bytes, BatchFloats counts %d", q.pass, q.got, q.want)
				if q.got < q.want || q.got > q.want+q.want/50 {
					t.Errorf("%s allocated %d bytes; BatchFloats counts %d", q.pass, q.got, q.want)
				}
			}
		})
	}
}
