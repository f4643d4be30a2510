package gpu

import (
	"errors"
	"fmt"
	"math"

	"mdsm/core"
	"mdsm/nn"
)

// trainEngine is core.TrainEngine on a device: weights, gradients, Adam moments and
// activations stay on it; per step the batch and its noise go up and the slots' losses
// (8 bytes each) and the Adam step's non-finite flag (4 bytes) come back.
//
// A step's gradient is defined as on the CPU (core.Objective.LossGradNoise): the
// micro-batch slots' gradients, each computed from zero, added in slot order, so that a
// data-parallel run over several GPUs (parallel.go) reproduces the single GPU's step bit
// for bit.
type trainEngine struct {
	d       device
	name    string
	ordinal int
	stream  uintptr
	net     *net
	cfg     core.RunConfig
	micro   int
	dim     int

	G                Buf // the step's gradient (the net's own buffer)
	S                Buf // a later slot's gradient, added to G (when micro < batch)
	M, V             Buf
	adamT            int
	b1, b2, eps      float64
	xB, noiseB, sigB Buf
	part, losses     Buf // per-image loss partials; per-slot losses (doubles)
	flag             Buf
	skipLo, skipHi   int
	sigHost          []float32
	lossStep         replay // LossGrad's device work, captured
	slotStep         replay // a data-parallel slot's, captured
	par              *parallel
}

// newTrainEngine builds the engine of cfg on d, loaded with p and a.
func newTrainEngine(d device, name string, ordinal int, stream uintptr, cfg core.RunConfig, p *nn.Params[float32], a *core.Adam) (*trainEngine, error) {
	e := &trainEngine{d: d, name: name, ordinal: ordinal, stream: stream, cfg: cfg, dim: cfg.Model.Dim(), micro: cfg.BatchSize}
	if cfg.MicroBatch > 0 {
		e.micro = min(cfg.MicroBatch, cfg.BatchSize)
	}
	err := d.do(func() error {
		var err error
		if e.net, err = newNet(d, cfg.Model, true); err != nil {
			return err
		}
		e.G = e.net.G
		al := func(n int) Buf {
			b, aerr := e.net.alloc(n)
			if aerr != nil && err == nil {
				err = aerr
			}
			return b
		}
		total := e.net.W.N
		e.M, e.V = al(total), al(total)
		if e.micro < cfg.BatchSize {
			e.S = al(total)
		}
		B := cfg.BatchSize
		slots := (B + e.micro - 1) / e.micro
		e.xB, e.noiseB, e.sigB = al(B*e.dim), al(B*e.dim), al(B)
		e.part, e.losses, e.flag = al(2*B), al(2*slots), al(1)
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

// GraphsNote says whether the engine's steps run as CUDA graphs: "off", "on", or why a
// capture failed (mdsm bench prints it).
func (e *trainEngine) GraphsNote() string { return graphsNote(e.d) }

// GraphsNote: see trainEngine.GraphsNote.
func (m *energyModel) GraphsNote() string { return graphsNote(m.d) }

func graphsNote(d device) string {
	if !d.graphsOn() {
		return "off"
	}
	if n, ok := d.(interface{ graphFailure() error }); ok && n.graphFailure() != nil {
		return "failed: " + n.graphFailure().Error()
	}
	return "on"
}

func (e *trainEngine) HostResident() bool { return false }

func (e *trainEngine) Close() error {
	if e.par != nil {
		e.d.do(func() error { e.par.close(); return nil })
		e.par = nil
	}
	if e.net == nil {
		return e.d.close()
	}
	e.d.do(func() error {
		e.lossStep.release()
		e.slotStep.release()
		e.net.release()
		return nil
	})
	e.net = nil
	return e.d.close()
}

// upload puts images lo..lo+n-1 of a batch (x and noise hold just those) and their
// noise levels into the engine's batch buffers.
func (e *trainEngine) upload(x, noise []float32, lo, n int, sigmas []float64) {
	for i, s := range sigmas[lo : lo+n] {
		e.sigHost[i] = float32(s)
	}
	e.d.upload(e.xB.At(0, n*e.dim), x[:n*e.dim])
	e.d.upload(e.noiseB.At(0, n*e.dim), noise[:n*e.dim])
	e.d.upload(e.sigB.At(0, n), e.sigHost[:n])
}

// slot enqueues one slot: images [lo, lo+k) of the uploaded batch, perturbed, run
// forward and backward for dE/dx, turned into the loss (into the double at loss) and
// v = dL/d(dE/dx), and the weight gradient accumulated into dst by the tangent pass.
// total is the whole batch's size (the loss's normalisation).
func (e *trainEngine) slot(lo, k, total int, loss, dst Buf) error {
	d, dim := e.d, e.dim
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
	inv0 := 1 / (e.cfg.Sigma0 * e.cfg.Sigma0)
	d.loss(e.net.gx.At(0, k*dim), ns, ss, e.net.xd.At(0, k*dim), e.part.At(0, 2*k), loss, k, dim, inv0, total)
	e.net.G = dst
	defer func() { e.net.G = e.G }()
	return e.net.directionalGrad()
}

// lossGrad enqueues LossGrad's device work for a batch of n: slot 0's gradient into G
// (from zero), every later slot's into S (from zero), added to G; each slot's loss into
// its own double.
func (e *trainEngine) lossGrad(n int) error {
	d := e.d
	d.fill(e.G, 0)
	d.fill(e.losses, 0)
	for s, lo := 0, 0; lo < n; s, lo = s+1, lo+e.micro {
		k := min(e.micro, n-lo)
		dst := e.G
		if s > 0 {
			dst = e.S
			d.fill(dst, 0)
		}
		if err := e.slot(lo, k, n, e.losses.At(2*s, 2), dst); err != nil {
			return err
		}
		if s > 0 {
			d.add(e.G, e.S)
		}
	}
	return nil
}

// LossGrad: the batch and noise go up once, the slots run on the device (as one graph
// when graphs are on), and the slots' losses come back and are added in slot order.
func (e *trainEngine) LossGrad(x, noise []float32, n int, sigmas []float64) (float64, error) {
	slots := (n + e.micro - 1) / e.micro
	losses := make([]float64, slots)
	err := e.d.do(func() error {
		e.upload(x, noise, 0, n, sigmas)
		key := replayKey{n: n, micro: e.micro, net: e.net.gen}
		if err := e.lossStep.run(e.d, key, func() error { return e.lossGrad(n) }); err != nil {
			return err
		}
		e.d.download(f64sAsF32(losses), e.losses.At(0, 2*slots))
		return e.d.err()
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", e.name, err)
	}
	loss := 0.0
	for _, l := range losses {
		loss += l
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, core.NonFinite(fmt.Errorf("non-finite loss: loss is %v", loss))
	}
	return loss, nil
}

func (e *trainEngine) Gradients() core.Gradients {
	g := e.G
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
		e.d.adam(e.net.W, e.G, e.M, e.V, float32(e.b1), float32(e.b2), step, eps, e.skipLo, e.skipHi, e.flag)
		e.d.download(flag[:], e.flag)
		return e.d.err()
	})
	if err != nil {
		return fmt.Errorf("%s: %w", e.name, err)
	}
	if math.Float32bits(flag[0]) == 0 {
		return nil
	}
	return e.nonFinite()
}

// nonFinite names the tensor holding a NaN or infinity after a flagged Adam step.
func (e *trainEngine) nonFinite() error {
	g := nn.NewParams[float32](e.cfg.Model)
	w := nn.NewParams[float32](e.cfg.Model)
	e.d.do(func() error { e.d.download(g.Flat(), e.G); e.d.download(w.Flat(), e.net.W); return nil })
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
