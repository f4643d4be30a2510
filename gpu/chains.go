package gpu

import (
	"context"
	"errors"
	"fmt"
	"math"

	"mdsm/internal/philox"
	"mdsm/sampling"
)

// chainStretch is the number of Langevin steps enqueued between two looks from the host
// (the trace, the divergence flags, the context): enough to keep the device busy, few
// enough that a cancelled job stops within a fraction of a second.
const chainStretch = 32

// chainRunner is sampling.ChainRunner on a device: the chains' state, the counter-based
// noise and every step's arithmetic stay on the device (kernels.cu langevin_*), the
// network runs on the energy model's net, and one step is one captured graph when graphs
// are on. Per stretch of steps only the trace (8 bytes a step) and the divergence flags
// (4 bytes a step) come back.
type chainRunner struct {
	m    *energyModel
	spec sampling.ChainSpec
	key  philox.Key
	k    int // steps enqueued so far (the device's step counter)

	x, truth, free Buf // state, clamped values, free mask (1/0 per pixel of one image)
	a, clamp       Buf // per step: noise scale, clamp noise (doubles)
	trace, bad     Buf // per step: mean energy (doubles), divergence flag (int32)
	step           Buf // the step counter (int32)
	allocated      []Buf
	step1          replay // one Langevin step, captured
	closed         bool
}

// StartChains puts the chains of spec on the model's device (sampling.ChainEnergy). A
// model runs one batch of chains at a time: starting new ones frees the previous ones.
func (m *energyModel) StartChains(spec sampling.ChainSpec) (sampling.ChainRunner, error) {
	if m.err != nil {
		return nil, m.err
	}
	if m.chains != nil {
		m.chains.Close()
	}
	nd := spec.N * spec.Dim
	if spec.N < 1 || spec.Dim != m.net.cfg.Dim() || len(spec.X0) != nd || len(spec.A) != spec.Steps ||
		(spec.Free != nil && (len(spec.Free) != spec.Dim || len(spec.Truth) != nd || len(spec.ClampStd) != spec.Steps)) {
		return nil, fmt.Errorf("gpu: chains of %d x %d values for a network of %d (x0 %d, %d steps)", spec.N, spec.Dim, m.net.cfg.Dim(), len(spec.X0), spec.Steps)
	}
	r := &chainRunner{m: m, spec: spec, key: philox.KeyOf(spec.NoiseSeed)}
	steps := max(spec.Steps, 1)
	err := m.d.do(func() error {
		var err error
		al := func(n int) Buf {
			b, aerr := m.d.alloc(max(n, 1))
			if aerr != nil && err == nil {
				err = aerr
			}
			b.N = n
			r.allocated = append(r.allocated, b)
			return b
		}
		r.x, r.a, r.trace, r.bad, r.step = al(nd), al(2*steps), al(2*steps), al(steps), al(1)
		if spec.Free != nil {
			r.truth, r.free, r.clamp = al(nd), al(spec.Dim), al(2*steps)
		}
		if err != nil {
			return err
		}
		if err := m.net.ensure(spec.N); err != nil {
			return err
		}
		m.d.upload(r.x, spec.X0)
		m.d.upload(r.a, f64sAsF32(spec.A))
		m.d.fill(r.trace, 0)
		m.d.fill(r.bad, 0)
		m.d.fill(r.step, 0)
		if spec.Free != nil {
			mask := make([]float32, spec.Dim)
			for j, f := range spec.Free {
				if f {
					mask[j] = 1
				}
			}
			m.d.upload(r.free, mask)
			m.d.upload(r.truth, spec.Truth)
			m.d.upload(r.clamp, f64sAsF32(spec.ClampStd))
		}
		return m.d.err()
	})
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("gpu: place %d chains on the device: %w", spec.N, err)
	}
	m.chains = r
	return r, nil
}

// enqueue adds one Langevin step to the device's queue: the network input, E and dE/dx
// on the net, the trace point, the update and the step counter.
func (r *chainRunner) enqueue() error {
	d, net, s := r.m.d, r.m.net, r.spec
	in := net.x.At(0, s.N*s.Dim)
	if s.Free != nil {
		d.langevinInput(r.x, r.truth, r.free, r.clamp, r.step, r.key, in, s.Dim)
	} else {
		d.copyBuf(in, r.x)
	}
	if err := net.forward(); err != nil {
		return err
	}
	if err := net.energyBackward(); err != nil {
		return err
	}
	d.langevinTrace(net.e, r.trace, r.step, s.N)
	d.langevinUpdate(r.x, net.gx.At(0, s.N*s.Dim), r.free, r.a, r.step, s.H, r.key, r.bad, s.Dim)
	d.stepAdvance(r.step)
	return nil
}

func (r *chainRunner) Steps(ctx context.Context, k int) (sampling.StepsReport, error) {
	rep := sampling.StepsReport{Diverged: -1}
	if r.closed {
		return rep, errors.New("gpu: the chains were closed (the model started others)")
	}
	k = min(k, r.spec.Steps-r.k)
	for done := 0; done < k; {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		m := min(chainStretch, k-done)
		first := r.k
		means := make([]float64, m)
		flags := make([]int32, m)
		err := r.m.d.do(func() error {
			if err := r.m.net.ensure(r.spec.N); err != nil {
				return err
			}
			for i := 0; i < m; i++ {
				if err := r.step1.run(r.m.d, replayKey{n: r.spec.N, net: r.m.net.gen}, r.enqueue); err != nil {
					return err
				}
				r.k++
			}
			r.m.d.download(f64sAsF32(means), r.trace.At(2*first, 2*m))
			r.m.d.download(i32sAsF32(flags), r.bad.At(first, m))
			return r.m.d.err()
		})
		if err != nil {
			return rep, fmt.Errorf("%d chains, steps %d-%d: %w", r.spec.N, first+1, first+m, err)
		}
		for i := 0; i < m; i++ {
			rep.Mean = append(rep.Mean, means[i])
			if math.IsNaN(means[i]) || math.IsInf(means[i], 0) || flags[i] != 0 {
				rep.Diverged = done + i
				rep.BadState = flags[i] != 0 && !(math.IsNaN(means[i]) || math.IsInf(means[i], 0))
				return rep, nil
			}
		}
		done += m
	}
	return rep, nil
}

func (r *chainRunner) State(x []float32) error {
	if r.closed {
		return errors.New("gpu: the chains were closed (the model started others)")
	}
	return r.m.d.do(func() error {
		r.m.d.download(x[:r.x.N], r.x)
		return r.m.d.err()
	})
}

// evalState runs the network on the current state (E into net.e, and with grad dE/dx
// into net.gx).
func (r *chainRunner) evalState(grad bool) error {
	net := r.m.net
	if err := net.ensure(r.spec.N); err != nil {
		return err
	}
	r.m.d.copyBuf(net.x.At(0, r.x.N), r.x)
	if err := net.forward(); err != nil {
		return err
	}
	if grad {
		return net.energyBackward()
	}
	return nil
}

func (r *chainRunner) Denoised(out []float32) error {
	if r.closed {
		return errors.New("gpu: the chains were closed (the model started others)")
	}
	s2 := r.spec.Sigma0 * r.spec.Sigma0
	return r.m.d.do(func() error {
		if s2 == 0 {
			r.m.d.download(out[:r.x.N], r.x)
			return r.m.d.err()
		}
		if err := r.evalState(true); err != nil {
			return err
		}
		net := r.m.net
		// The jump goes into the input buffer, which the gradient no longer needs.
		dst := net.x.At(0, r.x.N)
		r.m.d.langevinDenoise(r.x, net.gx.At(0, r.x.N), r.free, s2, dst, r.spec.Dim)
		r.m.d.download(out[:r.x.N], dst)
		return r.m.d.err()
	})
}

func (r *chainRunner) Energies(e []float32) error {
	if r.closed {
		return errors.New("gpu: the chains were closed (the model started others)")
	}
	return r.m.d.do(func() error {
		if err := r.evalState(false); err != nil {
			return err
		}
		r.m.d.download(e[:r.spec.N], r.m.net.e.At(0, r.spec.N))
		return r.m.d.err()
	})
}

func (r *chainRunner) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.m.chains == r {
		r.m.chains = nil
	}
	return r.m.d.do(func() error {
		r.step1.release()
		for _, b := range r.allocated {
			r.m.d.free(b)
		}
		r.allocated = nil
		return r.m.d.err()
	})
}
