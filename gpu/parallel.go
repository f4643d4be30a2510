package gpu

import (
	"fmt"
	"math"

	"mdsm/core"
	"mdsm/dist"
	"mdsm/internal/nccl"
)

// parallel is a training engine's part in data-parallel training (core.SlotEngine): the
// slot buffer it computes a slot into, the chunks it receives from the other ranks, its
// running sum of its own chunk and the gathered sums, all on the device, exchanged by the
// device's collectives (NCCL) on the engine's stream, and added in slot order by kernel
// add_chunks. Every buffer the collectives touch is chunk*size long (the gradient
// padded with zeros).
type parallel struct {
	coll                    collective
	size, chunk, count      int
	slot, recv, acc, gather Buf
	replays                 map[replayKey]*replay // a slot's device work per slot shape
}

// collective is what the exchange needs of a device's collective library.
type collective interface {
	// alltoall sends chunk q of send to rank q and receives rank q's chunk for this rank
	// into chunk q of recv.
	alltoall(send, recv Buf, chunk int) error
	// allgather gathers every rank's send into recv, in rank order.
	allgather(send, recv Buf) error
	close()
}

// JoinRanks sets up the exchange with the other ranks' engines: one NCCL communicator on
// a GPU (its id broadcast over comm), the host collectives of comm on the host device.
func (e *trainEngine) JoinRanks(comm dist.Comm, l dist.Launch) error {
	w := comm.Size()
	p := &parallel{size: w, count: e.G.N, chunk: (e.G.N + w - 1) / w, replays: map[replayKey]*replay{}}
	err := e.d.do(func() error {
		var err error
		al := func(n int) Buf {
			b, aerr := e.net.alloc(n)
			if aerr != nil && err == nil {
				err = aerr
			}
			return b
		}
		p.slot, p.recv, p.acc, p.gather = al(p.chunk*w), al(p.chunk*w), al(p.chunk), al(p.chunk*w)
		if err != nil {
			return err
		}
		e.d.fill(p.slot, 0)
		if p.coll, err = e.d.collective(comm, l); err != nil {
			return err
		}
		return e.d.err()
	})
	if err != nil {
		return err
	}
	e.par = p
	return nil
}

// MicroBatch is the images per slot.
func (e *trainEngine) MicroBatch() int { return e.micro }

// SlotLossGrad computes a slot into the slot buffer (core.SlotEngine): its images, noise
// and noise levels go up, its loss comes back.
func (e *trainEngine) SlotLossGrad(x, noise []float32, lo, k, n int, sigmas []float64) (float64, error) {
	p := e.par
	var loss [1]float64
	err := e.d.do(func() error {
		if k == 0 {
			e.d.fill(p.slot, 0)
			return e.d.err()
		}
		e.upload(x, noise, lo, k, sigmas)
		key := replayKey{n: n, micro: k, net: e.net.gen}
		r := p.replays[key]
		if r == nil {
			r = &replay{}
			p.replays[key] = r
		}
		err := r.run(e.d, key, func() error {
			e.d.fill(e.losses.At(0, 2), 0)
			e.d.fill(p.slot, 0)
			return e.slot(0, k, n, e.losses.At(0, 2), p.slot.At(0, p.count))
		})
		if err != nil {
			return err
		}
		e.d.download(f64sAsF32(loss[:]), e.losses.At(0, 2))
		return e.d.err()
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", e.name, err)
	}
	return loss[0], nil
}

// ExchangeRound exchanges the round's slot buffers and adds this rank's chunks of the
// first active ones, in slot order, to its running sum (core.SlotEngine).
func (e *trainEngine) ExchangeRound(j, active int) error {
	p := e.par
	return e.d.do(func() error {
		if err := p.coll.alltoall(p.slot, p.recv, p.chunk); err != nil {
			return err
		}
		e.d.addChunks(p.acc, p.recv, p.chunk, active, j == 0)
		return e.d.err()
	})
}

// FinishExchange gathers every rank's sum into the gradient buffer (core.SlotEngine).
func (e *trainEngine) FinishExchange() error {
	p := e.par
	return e.d.do(func() error {
		if err := p.coll.allgather(p.acc, p.gather); err != nil {
			return err
		}
		e.d.copyBuf(e.G, p.gather.At(0, p.count))
		return e.d.err()
	})
}

// CheckLoss reports a loss that is not finite.
func (e *trainEngine) CheckLoss(loss float64) error {
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return fmt.Errorf("loss is %v", loss)
	}
	return nil
}

func (p *parallel) close() {
	for _, r := range p.replays {
		r.release()
	}
	if p.coll != nil {
		p.coll.close()
	}
}

// hostCollective is the host device's collectives: the job's host communicator (the
// twin of NCCL, for tests of the exchange without a GPU).
type hostCollective struct{ comm dist.Comm }

func (h hostCollective) alltoall(send, recv Buf, chunk int) error {
	return h.comm.Alltoall(send.H, recv.H)
}
func (h hostCollective) allgather(send, recv Buf) error { return h.comm.AllgatherF32(send.H, recv.H) }
func (h hostCollective) close()                         {}

func (h *hostOps) collective(comm dist.Comm, _ dist.Launch) (collective, error) {
	return hostCollective{comm}, nil
}

// ncclCollective is NCCL on the context's stream.
type ncclCollective struct {
	c      *nccl.Comm
	stream uintptr
}

func (n ncclCollective) alltoall(send, recv Buf, chunk int) error {
	return n.c.AllToAll(uintptr(send.P), uintptr(recv.P), chunk, nccl.Float32, n.stream)
}
func (n ncclCollective) allgather(send, recv Buf) error {
	return n.c.AllGather(uintptr(send.P), uintptr(recv.P), send.N, nccl.Float32, n.stream)
}
func (n ncclCollective) close() { n.c.Destroy() }

// collective opens this rank's NCCL communicator on the context's device (called on the
// context's thread, where the device is current).
func (o *cudaOps) collective(comm dist.Comm, l dist.Launch) (collective, error) {
	if l.Size != comm.Size() || l.Rank != comm.Rank() {
		l = dist.Launch{Launcher: dist.LaunchOpenMPI, Rank: comm.Rank(), Size: comm.Size(), LocalRank: l.LocalRank, LocalSize: l.LocalSize}
	}
	c, err := dist.OpenNCCL(l, comm)
	if err != nil {
		return nil, err
	}
	return ncclCollective{c: c, stream: o.c.Stream}, nil
}

var _ core.SlotEngine = (*trainEngine)(nil)
