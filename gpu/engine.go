package gpu

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"mdsm/core"
	"mdsm/nn"
)

// trainEngine is core.TrainEngine on a device: weights, gradients, Adam moments and
// activations stay on it; per step the batch and its noise go up and the loss (8 bytes)
// and the Adam step's non-finite flag (4 bytes) come back.
type trainEngine struct {
	d       device
	name    string
	ordinal int
	stream  uintptr
	net     *net
	cfg     core.RunConfig
	micro   int
	dim     int

	M, V             Buf
	adamT            int
	b1, b2, eps      float64
	xB, noiseB, sigB Buf
	part, acc, flag  Buf
	skipLo, skipHi   int
	sigHost          []float32
}

// newTrainEngine builds the engine of cfg on d, loaded with p and a.
func newTrainEngine(d device, name string, ordinal int, stream uintptr, cfg core.RunConfig, p *nn.Params[float32], a *core.Adam) (*trainEngine, error) {
	e := &trainEngine{d: d, name: name, ordinal: ordinal, stream: stream, cfg: cfg, dim: cfg.Model.Dim(), micro: cfg.BatchSize}
	if cfg.MicroBatch > 0 {
		e.micro = cfg.MicroBatch
	}
	err := d.do(func() error {
		var err error
		if e.net, err = newNet(d, cfg.Model, true); err != nil {
			return err
		}
		al := func(n int) Buf {
			b, aerr := e.net.alloc(n)
			if aerr != nil && err == nil {
				err = aerr
			}
			return b
		}
		total := e.net.W.N
		e.M, e.V = al(total), al(total)
		B := cfg.BatchSize
		e.xB, e.noiseB, e.sigB = al(B*e.dim), al(B*e.dim), al(B)
		e.part, e.acc, e.flag = al(2*B), al(2), al(1)
		if err != nil {
			return err
		}
		return e.net.ensure(e.micro)
	})
	if err != nil {
		e.Close()
		return nil, err
	}
	e.skipLo = e.net.off[nn.EnergyOffset]
	e.skipHi = e.skipLo + e.net.sz[nn.EnergyOffset]
	e.sigHost = make([]float32, cfg.BatchSize)
	if err := e.Load(p, a); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *trainEngine) Device() string { return e.name }

// PeakDeviceBytes is the most device memory the engine has held (0 on the host device).
func (e *trainEngine) PeakDeviceBytes() int64 { return peakOf(e.d) }

// PeakDeviceBytes is the most device memory the model has held.
func (m *energyModel) PeakDeviceBytes() int64 { return peakOf(m.d) }

func peakOf(d device) int64 {
	if p, ok := d.(interface{ peakBytes() int64 }); ok {
		return p.peakBytes()
	}
	return 0
}
func (e *trainEngine) HostResident() bool { return false }

func (e *trainEngine) Close() error {
	if e.net == nil {
		return e.d.close()
	}
	e.d.do(func() error { e.net.release(); return nil })
	e.net = nil
	return e.d.close()
}

// LossGrad: the batch and noise go up once; each micro-batch is perturbed, run forward
// and backward for dE/dx, turned into the loss and v = dL/d(dE/dx) on the device, and its
// weight gradient accumulated into G by the tangent pass.
func (e *trainEngine) LossGrad(x, noise []float32, n int, sigmas []float64) (float64, error) {
	var loss float64
	err := e.d.do(func() error {
		d, dim := e.d, e.dim
		for i, s := range sigmas[:n] {
			e.sigHost[i] = float32(s)
		}
		d.upload(e.xB.At(0, n*dim), x[:n*dim])
		d.upload(e.noiseB.At(0, n*dim), noise[:n*dim])
		d.upload(e.sigB.At(0, n), e.sigHost[:n])
		d.fill(e.net.G, 0)
		d.fill(e.acc, 0)
		inv0 := 1 / (e.cfg.Sigma0 * e.cfg.Sigma0)
		for lo := 0; lo < n; lo += e.micro {
			k := min(e.micro, n-lo)
			if err := e.net.ensure(k); err != nil {
				return err
			}
			xs, ns, ss := e.xB.At(lo*dim, k*dim), e.noiseB.At(lo*dim, k*dim), e.sigB.At(lo, k)
			d.perturb(xs, ns, ss, e.net.x.At(0, k*dim), k, dim)
			if err := e.net.forward(); err != nil {
				return err
			}
			if err := e.net.energyBackward(); err != nil {
				return err
			}
			d.loss(e.net.gx.At(0, k*dim), ns, ss, e.net.xd.At(0, k*dim), e.part.At(0, 2*k), e.acc, k, dim, inv0, n)
			if err := e.net.directionalGrad(); err != nil {
				return err
			}
		}
		var acc [2]float32
		d.download(acc[:], e.acc)
		loss = *(*float64)(unsafe.Pointer(&acc[0]))
		return d.err()
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", e.name, err)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, core.NonFinite(fmt.Errorf("non-finite loss: loss is %v", loss))
	}
	return loss, nil
}

func (e *trainEngine) Gradients() core.Gradients {
	g := e.net.G
	if g.H != nil {
		return core.Gradients{Len: g.N, Host: g.H}
	}
	return core.Gradients{Len: g.N, Device: &core.DeviceBuffer{Ptr: uintptr(g.P), Ordinal: e.ordinal, Stream: e.stream}}
}

// Step is core.Adam.Step in one kernel over the flat buffers, which also flags a
// non-finite gradient or weight; only then are the buffers read back, to name the tensor.
func (e *trainEngine) Step(lr float64) error {
	e.adamT++
	c1 := 1 - math.Pow(e.b1, float64(e.adamT))
	c2 := 1 - math.Pow(e.b2, float64(e.adamT))
	step := float32(lr * math.Sqrt(c2) / c1)
	eps := float32(e.eps * math.Sqrt(c2))
	var flag [1]float32
	err := e.d.do(func() error {
		e.d.fill(e.flag, 0)
		e.d.adam(e.net.W, e.net.G, e.M, e.V, float32(e.b1), float32(e.b2), step, eps, e.skipLo, e.skipHi, e.flag)
		e.d.download(flag[:], e.flag)
		return e.d.err()
	})
	if err != nil {
		return fmt.Errorf("%s: %w", e.name, err)
	}
	if math.Float32bits(flag[0]) == 0 {
		return nil
	}
	g := nn.NewParams[float32](e.cfg.Model)
	w := nn.NewParams[float32](e.cfg.Model)
	e.d.do(func() error { e.d.download(g.Flat(), e.net.G); e.d.download(w.Flat(), e.net.W); return nil })
	if err := g.CheckFinite(); err != nil {
		return core.NonFinite(fmt.Errorf("non-finite gradient: %w", err))
	}
	if err := w.CheckFinite(); err != nil {
		return core.NonFinite(fmt.Errorf("non-finite weights after the update: %w", err))
	}
	return core.NonFinite(errors.New("non-finite values flagged by the Adam kernel"))
}

// flat is p's values in Flat order (a copy when p was put together by hand).
func flat(p *nn.Params[float32]) ([]float32, func()) {
	if f := p.Flat(); f != nil {
		return f, func() {}
	}
	q := p.Clone()
	return q.Flat(), func() { p.CopyFrom(q) }
}

func (e *trainEngine) ReadParams(p *nn.Params[float32]) error {
	f, done := flat(p)
	err := e.d.do(func() error { e.d.download(f, e.net.W); return e.d.err() })
	done()
	return err
}

func (e *trainEngine) ReadAdam(a *core.Adam) error {
	m, doneM := flat(a.M)
	v, doneV := flat(a.V)
	err := e.d.do(func() error { e.d.download(m, e.M); e.d.download(v, e.V); return e.d.err() })
	doneM()
	doneV()
	a.T, a.Beta1, a.Beta2, a.Eps = e.adamT, e.b1, e.b2, e.eps
	return err
}

func (e *trainEngine) Load(p *nn.Params[float32], a *core.Adam) error {
	w, _ := flat(p)
	m, _ := flat(a.M)
	v, _ := flat(a.V)
	e.adamT, e.b1, e.b2, e.eps = a.T, a.Beta1, a.Beta2, a.Eps
	return e.d.do(func() error {
		e.d.upload(e.net.W, w)
		e.d.upload(e.M, m)
		e.d.upload(e.V, v)
		return e.d.err()
	})
}

// energyModel is a sampling.Energy on a device: x goes up, E and dE/dx come back.
type energyModel struct {
	d      device
	net    *net
	err    error
	chains *chainRunner // the chains running on the model (StartChains)
}

func newEnergyModel(d device, p *nn.Params[float32]) (*energyModel, error) {
	m := &energyModel{d: d}
	w, _ := flat(p)
	err := d.do(func() error {
		var err error
		if m.net, err = newNet(d, p.Config, false); err != nil {
			return err
		}
		d.upload(m.net.W, w)
		return d.err()
	})
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Err is the first device error; the outputs of a failed call are NaN.
func (m *energyModel) Err() error { return m.err }

func (m *energyModel) run(x []float32, n int, e, g []float32) {
	if m.err == nil {
		m.err = m.d.do(func() error {
			dim := m.net.cfg.Dim()
			if err := m.net.ensure(n); err != nil {
				return err
			}
			m.d.upload(m.net.x.At(0, n*dim), x[:n*dim])
			if err := m.net.forward(); err != nil {
				return err
			}
			if g != nil {
				if err := m.net.energyBackward(); err != nil {
					return err
				}
				m.d.download(g[:n*dim], m.net.gx.At(0, n*dim))
			}
			m.d.download(e[:n], m.net.e.At(0, n))
			return m.d.err()
		})
	}
	if m.err != nil {
		nan := float32(math.NaN())
		for i := range e[:n] {
			e[i] = nan
		}
		for i := range g {
			g[i] = nan
		}
	}
}

func (m *energyModel) Energy(x []float32, n int, e []float32)        { m.run(x, n, e, nil) }
func (m *energyModel) EnergyGrad(x []float32, n int, e, g []float32) { m.run(x, n, e, g) }

func (m *energyModel) Close() error {
	if m.chains != nil {
		m.chains.Close()
	}
	if m.net != nil {
		m.d.do(func() error { m.net.release(); return nil })
		m.net = nil
	}
	return m.d.close()
}
