package core

import (
	"fmt"

	"mdsm/dist"
	"mdsm/nn"
)

// TrainEngine is where the arithmetic of a training step runs: the loss and its weight
// gradient, then the optimiser update. The trainer owns everything else (data, noise, the
// schedule, checkpoints, events), so a run is the same run on every engine: the same
// batches, the same noise and the same learning rates, only the arithmetic's rounding
// differs. The CPU engine (NewCPUEngine) works on host nn.Params; a device engine (the
// gpu package, registered with RegisterBackend) keeps weights, gradients, Adam moments
// and activations on its device and copies weights out only when asked (ReadParams).
//
// A step is LossGrad (or, in data-parallel training, a SlotEngine's slots and exchange:
// dataParallel), then Step. An engine is used by one goroutine at a time.
type TrainEngine interface {
	// Device names where the engine runs, for logs and checkpoints ("cpu",
	// "cuda:0 (NVIDIA H200)").
	Device() string
	// LossGrad evaluates the MDSM loss of n clean images x (NCHW) perturbed by
	// sigmas[b]*noise (noise: n*Dim standard normal values, drawn by the trainer) and
	// leaves its weight gradient in the engine's gradient buffer, overwriting it. The
	// error wraps ErrNonFinite when the loss is not finite.
	LossGrad(x, noise []float32, n int, sigmas []float64) (float64, error)
	// Gradients is the gradient buffer of the last LossGrad (or data-parallel step),
	// owned by the engine, as Step will use it.
	Gradients() Gradients
	// Step applies one Adam update of step size lr with the gradient buffer. The error
	// wraps ErrNonFinite when the gradient or the updated weights hold a NaN or an
	// infinity; the caller then restores a checkpoint with Load.
	Step(lr float64) error
	// ReadParams copies the current weights into p (same configuration).
	ReadParams(p *nn.Params[float32]) error
	// ReadAdam copies the optimiser's moments and step count into a.
	ReadAdam(a *Adam) error
	// Load replaces the weights and the optimiser state (a fresh run, a resume, a NaN
	// rollback). The engine keeps its own copies.
	Load(p *nn.Params[float32], a *Adam) error
	// HostResident reports whether the weights live in host memory, so that copying them
	// after every step costs next to nothing (the trainer's snapshots).
	HostResident() bool
	// Close frees what the engine holds (device memory); the engine is unusable after.
	Close() error
}

// ImageLossReporter is a TrainEngine that reports each image's loss term of its last
// LossGrad (|r_b|^2 / sigma_b^2 in batch order, their mean the batch loss): the trainer
// bins them by noise level into the loss per noise level of metrics.jsonl (SigmaBins).
// An engine without it logs no such loss. The slice may be the engine's own buffer.
type ImageLossReporter interface {
	ImageLosses() []float64
}

// Gradients is an engine's gradient buffer: every parameter's gradient back to back in
// the order of nn.Config.ParamSpecs (nn.Params.Flat's layout), Len values. Exactly one of
// Host and Device is set.
type Gradients struct {
	Len int
	// Host is the buffer itself on a host engine: reduce into it in place.
	Host []float32
	// Device is the buffer on a device engine.
	Device *DeviceBuffer
}

// DeviceBuffer is float32 memory on a GPU: the device pointer, the device ordinal, and
// the stream that orders the engine's work (where anything reading the buffer must be
// enqueued, or which it must wait for).
type DeviceBuffer struct {
	Ptr     uintptr
	Ordinal int
	Stream  uintptr
}

// cpuEngine is the TrainEngine of the CPU: nn.Model's float32 engine, core.Objective and
// core.Adam on the host parameters.
type cpuEngine struct {
	params *nn.Params[float32]
	grads  *nn.Params[float32]
	adam   *Adam
	obj    *Objective
	// data-parallel (JoinRanks): the slot exchange and the slot's own gradient
	ex      *hostExchange
	scratch *nn.Params[float32]
}

// NewCPUEngine returns the CPU engine for a run of cfg, training p with a in place (the
// engine works on these very objects: ReadParams into p and ReadAdam into a cost nothing).
func NewCPUEngine(cfg RunConfig, p *nn.Params[float32], a *Adam) TrainEngine {
	m := nn.NewModel(p)
	return &cpuEngine{params: p, grads: nn.NewParams[float32](cfg.Model), adam: a,
		obj: NewObjective(m, cfg.Sigma0, cfg.BatchSize, cfg.microBatch())}
}

func (e *cpuEngine) Device() string     { return "cpu" }
func (e *cpuEngine) HostResident() bool { return true }
func (e *cpuEngine) Close() error       { return nil }

func (e *cpuEngine) LossGrad(x, noise []float32, n int, sigmas []float64) (float64, error) {
	e.grads.Zero()
	loss, err := e.obj.LossGradNoise(x, noise, n, sigmas, e.grads)
	if err != nil {
		return loss, nonFinite{fmt.Errorf("non-finite loss: %w", err)}
	}
	return loss, nil
}

func (e *cpuEngine) ImageLosses() []float64 { return e.obj.ImageLosses() }

func (e *cpuEngine) Gradients() Gradients {
	f := e.grads.Flat()
	return Gradients{Len: len(f), Host: f}
}

func (e *cpuEngine) Step(lr float64) error {
	if err := e.grads.CheckFinite(); err != nil {
		return nonFinite{fmt.Errorf("non-finite gradient: %w", err)}
	}
	e.adam.Step(e.params, e.grads, lr)
	if err := e.params.CheckFinite(); err != nil {
		return nonFinite{fmt.Errorf("non-finite weights after the update: %w", err)}
	}
	return nil
}

func (e *cpuEngine) ReadParams(p *nn.Params[float32]) error {
	if p != e.params {
		p.CopyFrom(e.params)
	}
	return nil
}

func (e *cpuEngine) ReadAdam(a *Adam) error {
	if a != e.adam {
		a.CopyFrom(e.adam)
	}
	return nil
}

func (e *cpuEngine) Load(p *nn.Params[float32], a *Adam) error {
	if p != e.params {
		e.params.CopyFrom(p)
	}
	if a != e.adam {
		e.adam.CopyFrom(a)
	}
	return nil
}

// JoinRanks makes the CPU engine's host exchange over comm (MPI): SlotEngine.
func (e *cpuEngine) JoinRanks(comm dist.Comm, _ dist.Launch) error {
	e.ex = newHostExchange(comm, len(e.grads.Flat()))
	e.scratch = nn.NewParams[float32](e.params.Config)
	return nil
}

func (e *cpuEngine) MicroBatch() int { return e.obj.micro }

func (e *cpuEngine) SlotLossGrad(x, noise []float32, lo, k, n int, sigmas []float64) (float64, error) {
	if k == 0 {
		clear(e.ex.slot)
		return 0, nil
	}
	e.scratch.Zero()
	loss := e.obj.SlotLossGrad(x, noise, lo, k, n, sigmas, e.scratch)
	copy(e.ex.slot, e.scratch.Flat())
	return loss, nil
}

// SlotImageLosses is SlotImageLossReporter: the images' terms of the last slot.
func (e *cpuEngine) SlotImageLosses(lo, k int) []float64 { return e.obj.imgLoss[lo : lo+k] }

func (e *cpuEngine) ExchangeRound(j, active int) error { return e.ex.round(j, active) }
func (e *cpuEngine) FinishExchange() error             { return e.ex.finish(e.grads.Flat()) }
func (e *cpuEngine) CheckLoss(loss float64) error      { return e.obj.checkLoss(loss) }

// CopyFrom sets a's moments, step count and hyper-parameters to b's.
func (a *Adam) CopyFrom(b *Adam) {
	a.Beta1, a.Beta2, a.Eps, a.T = b.Beta1, b.Beta2, b.Eps, b.T
	a.M.CopyFrom(b.M)
	a.V.CopyFrom(b.V)
}

// NonFinite marks err as a NaN or infinity in training (errors.Is(err, ErrNonFinite)), for
// engines outside core.
func NonFinite(err error) error { return nonFinite{err} }
