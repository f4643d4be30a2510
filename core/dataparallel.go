package core

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"time"
	"unsafe"

	"mdsm/dist"
	"mdsm/nn"
)

// dataParallel computes a step's loss and gradient on one rank of a data-parallel run and
// combines the ranks' results so that every rank ends with the single-process result, bit
// for bit (Objective.LossGrad defines it: the micro-batch slots' gradients added in slot
// order).
//
// Slot s (micro-batch s of the global batch) belongs to rank s mod W and is computed in
// round s div W. After each round the ranks exchange their slot gradients with one
// Alltoall, split into W chunks: rank q receives chunk q of the round's W slot gradients
// and adds them, in slot order, to its running sum of chunk q. Because round j holds slots
// jW..jW+W-1, the chunk sums are exactly the single process's left-to-right sums. An
// Allgather of the chunks then gives every rank the whole gradient. Per rank and step this
// moves (rounds+1)(W-1)/W gradients, which is the 2(W-1)/W of a ring all-reduce when each
// rank has one slot (micro-batch = batch/W, the default of a distributed run); MPI's or
// NCCL's own all-reduce would add in an order of its choosing.
//
// The engine holds the buffers and does the exchange (SlotEngine): the CPU engine on the
// host through the job's MPI (hostExchange), a GPU engine on its device through NCCL. The
// losses and the ranks' compute times go through the job's host collectives.
type dataParallel struct {
	comm       dist.Comm
	eng        SlotEngine
	rank, size int
	info       []float64 // this rank's slot losses of the step, its compute seconds, its images' losses
	allInfo    []float64
	// imgLoss is every image's loss term of the last batch in batch order, gathered from
	// the ranks (Objective.ImageLosses of the single process, bit for bit); nil when the
	// engine does not report them (SlotImageLossReporter).
	imgLoss []float64
	// computeSecs is this rank's compute time (slots only, no waiting) of the last step.
	computeSecs []float64 // per rank
}

// errCollective marks a failed collective (a peer gone): the rank then makes no further
// collective call, which could only wait forever; the launcher ends the job.
var errCollective = errors.New("a collective operation failed")

// SlotEngine is a TrainEngine that data-parallel training can spread over ranks: it
// computes the gradient of one micro-batch slot on its own, from zero, into a slot buffer,
// and exchanges slot buffers with the other ranks' engines so that the sums come out in
// the single process's slot order (see dataParallel). The CPU engine is one; so is the
// GPU engine, which exchanges over NCCL on its stream.
type SlotEngine interface {
	TrainEngine
	// JoinRanks prepares the exchange between the ranks of comm (l: how the job was
	// launched). Every rank calls it, after every rank has made its engine.
	JoinRanks(comm dist.Comm, l dist.Launch) error
	// MicroBatch is the images per slot.
	MicroBatch() int
	// SlotLossGrad evaluates the k images at positions lo..lo+k-1 of a batch of n (x and
	// noise hold just those k images), leaves the weight gradient of their part of the
	// batch loss in the slot buffer and returns that part of the loss (Objective's
	// SlotLossGrad). k = 0 clears the slot buffer: the rank has no slot this round.
	SlotLossGrad(x, noise []float32, lo, k, n int, sigmas []float64) (float64, error)
	// ExchangeRound sends chunk q of the slot buffer to rank q and adds the chunks this
	// rank receives from ranks 0..active-1 (slots jW..jW+active-1 of round j), in that
	// order, to its running sum; round 0 starts the sum.
	ExchangeRound(j, active int) error
	// FinishExchange gathers every rank's summed chunk into the gradient buffer.
	FinishExchange() error
	// CheckLoss reports a loss that is not finite, with what the engine knows of why.
	CheckLoss(loss float64) error
}

// hostExchange is the slot exchange of host buffers over a dist.Comm (the CPU engine's,
// and mdsm bench --exchange's).
type hostExchange struct {
	comm        dist.Comm
	rank, size  int
	count       int // parameters
	chunk       int // ceil(count/size): the part of the gradient each rank sums
	slot, recv  []float32
	acc, gather []float32
}

func newHostExchange(comm dist.Comm, count int) *hostExchange {
	w := comm.Size()
	chunk := (count + w - 1) / w
	return &hostExchange{comm: comm, rank: comm.Rank(), size: w, count: count, chunk: chunk,
		slot: make([]float32, chunk*w), recv: make([]float32, chunk*w), acc: make([]float32, chunk),
		gather: make([]float32, chunk*w)}
}

// round exchanges the slot buffers of round j and adds this rank's chunk of each of the
// first active ones, in slot order, to acc.
func (h *hostExchange) round(j, active int) error {
	if err := h.comm.Alltoall(h.slot, h.recv); err != nil {
		return fmt.Errorf("exchanging gradients: %w", err)
	}
	for q := range active {
		blk := h.recv[q*h.chunk : (q+1)*h.chunk]
		if j == 0 && q == 0 {
			copy(h.acc, blk)
			continue
		}
		for i, v := range blk {
			h.acc[i] += v
		}
	}
	return nil
}

// finish gathers the chunk sums into dst (count values).
func (h *hostExchange) finish(dst []float32) error {
	if err := h.comm.AllgatherF32(h.acc, h.gather); err != nil {
		return fmt.Errorf("gathering gradients: %w", err)
	}
	copy(dst, h.gather[:h.count])
	return nil
}

// SlotImageLossReporter is a SlotEngine that reports each image's loss term of its last
// slot (ImageLossReporter for a slot): a distributed run gathers them, so that its loss per
// noise level is the single process's. The CPU engine is one.
type SlotImageLossReporter interface {
	// SlotImageLosses is the terms of the images lo..lo+k-1 of the last SlotLossGrad.
	SlotImageLosses(lo, k int) []float64
}

func newDataParallel(comm dist.Comm, eng SlotEngine) *dataParallel {
	return &dataParallel{comm: comm, eng: eng, rank: comm.Rank(), size: comm.Size(), computeSecs: make([]float64, comm.Size())}
}

// lossGrad is Objective.LossGradNoise over the ranks: x and noise are the whole batch's
// (every rank draws them; each evaluates its own slots); the engine's gradient buffer and
// the returned loss end as the single-process ones on every rank. Its errors are the
// collectives' and the engine's (check the loss with the engine's CheckLoss).
func (d *dataParallel) lossGrad(x, noise []float32, n int, sigmas []float64) (float64, error) {
	micro := d.eng.MicroBatch()
	dim := len(x) / n
	slots := (n + micro - 1) / micro
	rounds := (slots + d.size - 1) / d.size
	// info: the rounds' slot losses, the compute seconds, then the images' losses of the
	// rank's slots (micro per round), gathered so that every rank has the batch's losses
	// per image (the loss per noise level) as the single process has them.
	il, reports := d.eng.(SlotImageLossReporter)
	L := rounds + 1
	if reports {
		L += rounds * micro
	}
	if cap(d.info) < L {
		d.info = make([]float64, L)
		d.allInfo = make([]float64, L*d.size)
	}
	info, allInfo := d.info[:L], d.allInfo[:L*d.size]
	clear(info)
	var busy time.Duration
	for j := range rounds {
		s := j*d.size + d.rank
		lo, k := min(s*micro, n), 0 // no slot this round: k = 0 clears the slot buffer
		if s < slots {
			k = min(micro, n-lo)
		}
		start := time.Now()
		l, err := d.eng.SlotLossGrad(x[lo*dim:(lo+k)*dim], noise[lo*dim:(lo+k)*dim], lo, k, n, sigmas)
		if err != nil {
			return 0, err
		}
		if k > 0 {
			info[j] = l
			busy += time.Since(start)
			if reports {
				copy(info[rounds+1+j*micro:], il.SlotImageLosses(lo, k))
			}
		}
		if err := d.eng.ExchangeRound(j, min(d.size, slots-j*d.size)); err != nil {
			return 0, fmt.Errorf("%w: %w", errCollective, err)
		}
	}
	if err := d.eng.FinishExchange(); err != nil {
		return 0, fmt.Errorf("%w: %w", errCollective, err)
	}
	info[rounds] = busy.Seconds()
	if err := d.comm.AllgatherF64(info, allInfo); err != nil {
		return 0, fmt.Errorf("gathering losses: %w: %w", errCollective, err)
	}
	loss := 0.0
	d.imgLoss = nil
	if reports {
		d.imgLoss = make([]float64, n)
	}
	for s := range slots {
		q, j := s%d.size, s/d.size
		loss += allInfo[q*L+j]
		if reports {
			lo := s * micro
			copy(d.imgLoss[lo:min(lo+micro, n)], allInfo[q*L+rounds+1+j*micro:])
		}
	}
	for q := range d.size {
		d.computeSecs[q] = allInfo[q*L+rounds]
	}
	return loss, nil
}

// ExchangeTimes measures what a data-parallel step of a model costs beyond its compute
// when each rank has one slot: the fixed-order reduction of the gradient (Alltoall, sums,
// Allgather), the gathering of the losses and the control agreement; reps times, after
// one untimed exchange. Every rank calls it (mdsm bench --exchange).
func ExchangeTimes(comm dist.Comm, model nn.Config, reps int) ([]time.Duration, error) {
	scratch := nn.NewParams[float32](model)
	h := newHostExchange(comm, len(scratch.Flat()))
	for i := range h.slot[:h.count] {
		h.slot[i] = float32(i%1000) * 1e-3
	}
	info, all := make([]float64, 2), make([]float64, 2*h.size)
	var out []time.Duration
	for r := -1; r < reps; r++ {
		start := time.Now()
		if _, err := agreeFlags(comm, controlFlags{}); err != nil {
			return nil, err
		}
		if err := h.round(0, h.size); err != nil {
			return nil, err
		}
		if err := h.finish(scratch.Flat()); err != nil {
			return nil, err
		}
		if err := comm.AllgatherF64(info, all); err != nil {
			return nil, err
		}
		if r >= 0 {
			out = append(out, time.Since(start))
		}
	}
	return out, nil
}

// rankRates is each rank's images per second of compute (waiting excluded) in the last
// step of a batch of n in micro-batches of micro.
func (d *dataParallel) rankRates(n, micro int) []float64 {
	out := make([]float64, d.size)
	for s, lo := 0, 0; lo < n; s, lo = s+1, lo+micro {
		out[s%d.size] += float64(min(micro, n-lo))
	}
	for q := range out {
		if d.computeSecs[q] > 0 {
			out[q] /= d.computeSecs[q]
		} else {
			out[q] = 0
		}
	}
	return out
}

// controlFlags are the requests every rank must agree on before a step of a distributed
// run: any rank's request counts for all, so that they stop, checkpoint, fail, pause and
// change their total together (steps: the largest total asked for, 0 for none).
type controlFlags struct {
	stop, checkpoint, failed, pause bool
	steps                           int
}

// agreeFlags is a collective: it returns the flags of all ranks or-ed together.
func agreeFlags(c dist.Comm, f controlFlags) (controlFlags, error) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	const n = 5
	mine := []float64{b(f.stop), b(f.checkpoint), b(f.failed), b(f.pause), float64(f.steps)}
	all := make([]float64, n*c.Size())
	if err := c.AllgatherF64(mine, all); err != nil {
		return f, err
	}
	var out controlFlags
	for q := range c.Size() {
		v := all[n*q : n*q+n]
		out.stop = out.stop || v[0] != 0
		out.checkpoint = out.checkpoint || v[1] != 0
		out.failed = out.failed || v[2] != 0
		out.pause = out.pause || v[3] != 0
		out.steps = max(out.steps, int(v[4]))
	}
	return out, nil
}

// checkSameWeights is a collective that fails when the ranks' weights differ (they cannot,
// unless the ranks compute different updates, e.g. on different hardware with different
// rounding): the hash of every rank's weights is compared with rank 0's.
func checkSameWeights(c dist.Comm, p *nn.Params[float32], step int) error {
	h := fnv.New64a()
	if w := p.Flat(); len(w) > 0 {
		h.Write(unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 4*len(w)))
	}
	mine := []float64{math.Float64frombits(h.Sum64())}
	all := make([]float64, c.Size())
	if err := c.AllgatherF64(mine, all); err != nil {
		return err
	}
	for q, v := range all {
		if math.Float64bits(v) != math.Float64bits(all[0]) {
			return fmt.Errorf("step %d: the weights of rank %d differ from rank 0's: the ranks computed different updates (are MDSM_ISA and the CPU kind the same on every node?)", step, q)
		}
	}
	return nil
}

// shareCheckpoint hands rank 0's checkpoint (or its error) to every rank: the state as
// JSON, then weights and Adam moments as raw float32. Other ranks need not see the run
// directory (it may be on rank 0's disk only). ck is nil on the other ranks and, on rank
// 0, when there is no checkpoint yet (then every rank returns nil).
func shareCheckpoint(c dist.Comm, ck *Checkpoint, err error, model nn.Config) (*Checkpoint, error) {
	if c.Size() == 1 {
		return ck, err
	}
	var head struct {
		Has   bool       `json:"has"`
		State TrainState `json:"state"`
		Path  string     `json:"path"`
		Model nn.Config  `json:"model"`
	}
	if c.Rank() == 0 && ck != nil {
		head.Has, head.State, head.Path, head.Model = true, ck.State, ck.Path, ck.Params.Config
	}
	if err := dist.BcastJSON(c, &head, err); err != nil {
		return nil, err
	}
	if !head.Has {
		return nil, nil
	}
	if c.Rank() != 0 {
		ck = &Checkpoint{State: head.State, Path: head.Path, Params: nn.NewParams[float32](head.Model),
			Adam: NewAdam(head.Model, head.State.Config.Beta1, head.State.Config.Beta2)}
		ck.Adam.T = head.State.AdamT
	}
	for _, p := range []*nn.Params[float32]{ck.Params, ck.Adam.M, ck.Adam.V} {
		if w := p.Flat(); len(w) > 0 {
			if err := c.Bcast(unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 4*len(w))); err != nil {
				return nil, fmt.Errorf("broadcasting checkpoint: %w", err)
			}
		}
	}
	return ck, nil
}
