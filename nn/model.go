package nn

import (
	"fmt"

	"mdsm/internal/winograd"
)

// Model evaluates one network on batches: the energy, its input gradient dE/dx and the
// MDSM weight gradient. It keeps every intermediate buffer between calls, sized for the
// largest batch seen, so a training or sampling loop allocates nothing per step.
//
// A Model reads its Params live and is not safe for concurrent use: give each goroutine
// its own Model over its own snapshot (Params.Clone).
type Model[T Float] struct {
	cfg    Config
	p      *Params[T]
	stem   conv[T]
	blocks []*block[T]
	head   head[T]

	n, cap int // current batch, allocated batch
	plane  int // pixels per input channel

	x, xd    []T    // input and its tangent, channel-major
	h0, h0d  []T    // stem output and its tangent (h0d may be adj[1]: h0dScratch)
	col      []T    // im2col scratch
	adj      [2][]T // the adjoints between blocks, in turn (scratchSizes)
	adjBoth  []T    // adj[0] and adj[1], one after the other
	bufZ     []T    // a block's pre-activation scratch (scratchSizes)
	bufA     []T    // a block's second scratch (scratchSizes)
	gx       []T    // dE/dx channel-major
	gh0      []T    // dE/d(stem output), kept for DirectionalGrad
	ready    bool
	tangents bool // tangent (training) buffers allocated
	kept     bool // EnergyGrad kept the energy's adjoints for DirectionalGrad

	convAlgo ConvAlgorithm
	wino     winograd.Conv[T] // scratch of the Winograd convolutions, shared by the layers
	flip     flipScratch[T]   // scratch of the direct data adjoints, shared by the layers
}

// block is one pre-activation residual block and its stored activations.
type block[T Float] struct {
	spec         blockSpec
	c1, c2, skip conv[T]
	in, ind      []T // the block input and its tangent (owned by the previous layer)
	// a1 = elu(in) and a down block's pooled input are not kept: the passes recompute them
	// from in (the same bits) into scratch.
	a2           []T // elu(c1(a1))
	out          []T
	a1d, a2d, sd []T // tangents
	outd         []T
	// The energy's adjoints dE/d(out), dE/d(a1), dE/d(a2), kept by EnergyGrad when the
	// model trains: they are the training pass's tangent adjoints (backward.go). The last
	// block keeps no gout: its dE/d(out) is the head's input gradient, recomputed cheaply
	// (Model.headAdjoint).
	gout, a1bar, a2bar []T
}

// head is the generalised quadratic head E = (a.h+b1)(c.h+b2) + d.(h*h) + b3.
type head[T Float] struct {
	a, b1, c, b2, d, b3  []T
	ga, gb1, gc, gb2, gd []T
	u, w, ud, wd         []T // per sample a.h+b1, c.h+b2 and their tangents
}

// NewModel builds the layer structure over p. The model reads p's tensors at every call,
// so updating p in place (the optimiser step) is seen by the next call.
func NewModel[T Float](p *Params[T]) *Model[T] {
	c := p.Config
	m := &Model[T]{cfg: c, p: p, plane: c.ImageSize * c.ImageSize}
	d := func(name string) []T { return p.T[name].Data }
	m.stem = conv[T]{w: d("stem.weight"), b: d("stem.bias"), cin: c.InChannels, cout: c.Filters, k: 3}
	for k, bs := range c.blocks() {
		pre := fmt.Sprintf("blocks.%d.", k)
		m.blocks = append(m.blocks, &block[T]{
			spec: bs,
			c1:   conv[T]{w: d(pre + "c1.weight"), cin: bs.cin, cout: bs.cin, k: 3},
			c2:   conv[T]{w: d(pre + "c2.weight"), b: d(pre + "c2.bias"), cin: bs.cin, cout: bs.cout, k: 3},
			skip: conv[T]{w: d(pre + "skip.weight"), b: d(pre + "skip.bias"), cin: bs.cin, cout: bs.cout, k: 1},
		})
	}
	m.head = head[T]{a: d("head.l1.weight"), b1: d("head.l1.bias"), c: d("head.l2.weight"), b2: d("head.l2.bias"), d: d("head.lq.weight"), b3: d("head.lq.bias")}
	m.SetConvAlgorithm(defaultConv)
	return m
}

// Config is the network configuration.
func (m *Model[T]) Config() Config { return m.cfg }

// Params is the parameter set the model reads.
func (m *Model[T]) Params() *Params[T] { return m.p }

// alloc sizes every buffer for batch n (tangent buffers only when asked).
func (m *Model[T]) alloc(n int, tangents bool) {
	if n <= m.cap && (!tangents || m.tangents) {
		m.n = n
		return
	}
	if n < m.cap {
		n = m.cap
	}
	c := m.cfg
	mk := func(k int) []T { return make([]T, k) }
	s0 := c.ImageSize * c.ImageSize
	maxCol := c.InChannels * 9 * s0
	if m.cap < n {
		m.x = mk(n * c.InChannels * s0)
		m.gx = mk(n * c.InChannels * s0)
		m.h0 = mk(n * c.Filters * s0)
		for _, b := range m.blocks {
			bs := b.spec
			sz := bs.size * bs.size
			osz := sz
			if bs.down {
				osz = sz / 4
			}
			b.a2 = mk(n * bs.cin * sz)
			b.out = mk(n * bs.cout * osz)
			maxCol = max(maxCol, bs.cin*9*sz)
		}
		// The im2col scratch: float32 convolutions pack their im2col panels straight from
		// the activations (gemm.SgemmConv3, SgemmConv3W) and never use it; float64 (the
		// gradient tests) writes the matrix out.
		if !isFloat32(m.x) {
			m.col = mk(n * maxCol)
		}
		adj, z, a := c.scratchSizes()
		m.adjBoth, m.bufZ, m.bufA = mk(2*n*adj), mk(n*z), mk(n*a)
		m.adj[0], m.adj[1] = m.adjBoth[:n*adj], m.adjBoth[n*adj:]
		m.head.u, m.head.w = mk(n), mk(n)
		m.tangents = false
	}
	if tangents {
		m.xd = mk(len(m.x))
		m.h0d = m.adj[1][:len(m.h0)]
		if !c.h0dScratch() {
			m.h0d = mk(len(m.h0))
		}
		m.gh0 = mk(len(m.h0))
		for k, b := range m.blocks {
			b.a1d, b.a2d = mk(len(b.a2)), mk(len(b.a2))
			if b.spec.down {
				b.sd = mk(len(b.out) / b.spec.cout * b.spec.cin)
			}
			b.outd = mk(len(b.out))
			b.gout, b.a1bar, b.a2bar = nil, mk(len(b.a2)), mk(len(b.a2))
			if k < len(m.blocks)-1 {
				b.gout = mk(len(b.out))
			}
		}
		m.head.ud, m.head.wd = mk(n), mk(n)
		m.tangents = true
	}
	m.cap, m.n = n, n
	m.reserveConv(n)
}

// scratchSizes returns the per-image lengths of the scratch buffers of the passes, each
// sized for the role it plays in every block (sizes in floats per image, sz = side^2, osz
// the output side^2, both for the block's input side):
//
//   - adj, twice, in one buffer: the adjoints at the block boundaries (the stem output,
//     every block's input cin*sz and output cout*osz). Each reverse pass reads a block's
//     output adjoint from one and writes its input adjoint to the other; once a block's
//     output adjoint is spent, its buffer holds the recomputed a1 = elu(in). The training
//     pass of a down block writes its unpooled z2 tangent adjoint (cout*sz) across both
//     before it writes the input adjoint. The forward passes hold a1 in adj[0] and the stem
//     output's tangent in adj[1] (h0dScratch).
//   - z: the forward's pre-activations z1 (cin*sz) and, in a down block, the unpooled z2
//     (cout*sz) and then the pooled input; the reverse passes' z2bar (cout*sz) and a1bar,
//     and the training pass's pooled input (recomputed) and z1bar tangent adjoint (cin*sz),
//     each dead before the next is written.
//   - a: the forward's shortcut output (cout*osz); the reverse passes' pooled shortcut
//     adjoint and a2bar (cin*sz), then the recomputed a1 of the energy pass. In the
//     training pass of the last block, if it pools, the head's dE/dh after the pooled
//     shortcut adjoint (headAdjoint); if it does not, z holds it.
//
// Four buffers of the largest activation each and a fifth for the training pass (their
// former layout) took twice this (small preset).
func (c Config) scratchSizes() (adj, z, a int) {
	adj = c.Filters * c.ImageSize * c.ImageSize
	blocks := c.blocks()
	for _, bs := range blocks {
		sz := bs.size * bs.size
		adj = max(adj, bs.cin*sz, bs.cout*bs.outPlane())
		z, a = max(z, bs.cin*sz), max(a, bs.cin*sz, bs.cout*bs.outPlane())
		if bs.down {
			adj, z = max(adj, (bs.cout*sz+1)/2), max(z, bs.cout*sz)
		}
	}
	if k := len(blocks) - 1; k >= 0 {
		if bs := blocks[k]; bs.down {
			a = max(a, bs.cin*bs.outPlane()+bs.cout*bs.outPlane())
		} else {
			z = max(z, bs.cout*bs.outPlane())
		}
	}
	return adj, z, a
}

// BatchFloats returns the floats per image of the buffers a float32 Model of this
// configuration allocates for a batch (float64 adds an im2col matrix): energy for Energy and
// EnergyGrad, train for what DirectionalGrad adds (the tangents and the kept adjoints).
// The convolutions' scratch is apart (ConvScratchBytes).
func (c Config) BatchFloats() (energy, train int) {
	s0 := c.ImageSize * c.ImageSize
	in, h0 := c.InChannels*s0, c.Filters*s0
	adj, z, a := c.scratchSizes()
	energy = 2*in + h0 + 2*adj + z + a + 2 // x, gx, h0, the scratch, the head's u and w
	train = in + h0 + 2                    // xd, gh0, the head's udot and wdot
	if !c.h0dScratch() {
		train += h0
	}
	blocks := c.blocks()
	for k, bs := range blocks {
		act, out := bs.cin*bs.size*bs.size, bs.cout*bs.outPlane()
		energy += act + out  // a2, out
		train += 4*act + out // a1d, a2d, a1bar, a2bar, outd
		if bs.down {
			train += bs.cin * bs.outPlane() // sd
		}
		if k < len(blocks)-1 {
			train += out // gout
		}
	}
	return energy, train
}

// headAdjoint writes the energy's adjoint at the last block's output, dE/dh (its tangent
// adjoint in the training pass), into scratch that the block's training pass does not
// write before its last read (scratchSizes) and returns it.
func (m *Model[T]) headAdjoint(b *block[T]) []T {
	last := m.lastOut()
	g := m.bufZ[:len(last)]
	if b.spec.down {
		pooled := m.n * b.spec.cin * b.spec.outPlane()
		g = m.bufA[pooled : pooled+len(last)]
	}
	m.headInputGrad(last, g)
	return g
}

// h0dScratch reports whether the stem output's tangent can live in Model.adj[1]: the tangent
// forward reads it, and no reverse pass does unless the first block keeps its shortcut input
// (a block that does not pool reads its input's tangent for the shortcut's weight
// gradient) or there are no blocks (the head reads it). The adjoint buffers are free during
// the forward passes.
func (c Config) h0dScratch() bool {
	bs := c.blocks()
	return len(bs) > 0 && bs[0].down // the adjoint buffers hold the stem output (scratchSizes)
}

// reserveConv announces every Winograd convolution of the model at batch n to the shared
// scratch, so that it is allocated once at its largest size.
func (m *Model[T]) reserveConv(n int) {
	each := func(c *conv[T], size int) {
		if c.tile != 0 {
			m.wino.Reserve(c.tile, c.cout, c.cin, n, size, false)
			m.wino.Reserve(c.tile, c.cin, c.cout, n, size, false)
		}
		if c.tileW != 0 {
			m.wino.Reserve(c.tileW, c.cout, c.cin, n, size, true)
		}
	}
	each(&m.stem, m.cfg.ImageSize)
	for _, b := range m.blocks {
		each(&b.c1, b.spec.size)
		each(&b.c2, b.spec.size)
	}
}

// checkBatch panics on a programming error: buffers whose length disagrees with n.
func (m *Model[T]) checkBatch(x []T, n int, outs ...[]T) {
	if n < 1 || len(x) < n*m.cfg.Dim() {
		panic(fmt.Sprintf("nn: %d images need %d values, got %d", n, n*m.cfg.Dim(), len(x)))
	}
	for _, o := range outs {
		if o != nil && len(o) < n {
			panic("nn: output buffer shorter than the batch")
		}
	}
}

// Energy writes E(x_i) for n images (NCHW) into e.
func (m *Model[T]) Energy(x []T, n int, e []T) {
	m.checkBatch(x, n, e)
	m.forward(x, n)
	m.headEnergy(e)
}

// EnergyGrad writes E(x_i) into e and dE/dx into g (NCHW, like x). It also leaves the
// activations in place for DirectionalGrad on the same x.
func (m *Model[T]) EnergyGrad(x []T, n int, e, g []T) {
	m.checkBatch(x, n, e)
	if len(g) < n*m.cfg.Dim() {
		panic("nn: gradient buffer shorter than the batch")
	}
	m.forward(x, n)
	m.headEnergy(e)
	gOut := m.energyBackward()
	m.stem.backwardData(gOut, n, m.cfg.ImageSize, m.gx, m.col)
	fromChannelMajor(m.gx, n, m.cfg.InChannels, m.plane, g)
	m.ready = true
}

// energyBackward propagates the adjoint of every sample's energy (1 each) from the head
// down to the stem output and returns dE/d(stem output). A training model (tangent buffers
// allocated) keeps the adjoints of every block for DirectionalGrad.
func (m *Model[T]) energyBackward() []T {
	last := m.lastOut()
	gOut := m.adj[0][:len(last)]
	m.headInputGrad(last, gOut)
	keep := m.tangents
	gOut = m.backwardBlocks(gOut, func(b *block[T], g, pi, _ []T) []T {
		return b.backwardEnergy(m.n, m.col, g, pi, m.bufZ, m.bufA, keep)
	})
	if keep {
		copy(m.gh0, gOut)
	}
	m.kept = keep
	return gOut
}

// DirectionalGrad accumulates into grads the weight gradient of
//
//	S(theta) = sum_i v_i . dE/dx(x_i; theta)
//
// at the x of the preceding EnergyGrad call, with v held constant. With
// v = dL/d(dE/dx) this is the exact MDSM weight gradient (the tangent formulation of
// docs/GORGONIA.md): a forward-mode tangent pass along v, then reverse mode through both the
// primal and the tangent activations. grads must have the model's configuration; the
// energy offset's gradient is zero and left untouched.
func (m *Model[T]) DirectionalGrad(v []T, grads *Params[T]) {
	if !m.ready {
		panic("nn: DirectionalGrad needs a preceding EnergyGrad on the same batch")
	}
	n := m.n
	m.alloc(n, true)
	if !m.kept {
		// The first training step: EnergyGrad ran before the training buffers existed.
		m.energyBackward()
	}
	m.bindGrads(grads)
	toChannelMajor(v, n, m.cfg.InChannels, m.plane, m.xd)
	m.tangentForward()
	last, lastd := m.lastOut(), m.lastOutTangent()
	gP := m.adj[0][:len(last)]
	m.headTangentBackward(last, lastd, gP)
	gP = m.backwardBlocks(gP, func(b *block[T], g, pi, po []T) []T {
		gT := b.gout
		if gT == nil {
			gT = m.headAdjoint(b)
		}
		return b.backwardTrain(n, m.col, g, gT[:len(g)], pi, m.bufZ, m.bufA, po, m.adjBoth)
	})
	s := m.cfg.ImageSize
	m.stem.backwardWeights(m.x, gP, m.xd, m.gh0[:len(gP)], n, s, m.col)
	m.bindGrads(nil)
}

// backwardBlocks runs a reverse pass, step, through the blocks from the last to the first,
// starting from the adjoint g in m.adj[0]. Each block reads its output adjoint g from one of
// the two adjoint buffers (po, whole) and writes its input adjoint to the other (pi); it
// returns the stem-output adjoint.
func (m *Model[T]) backwardBlocks(g []T, step func(b *block[T], g, pi, po []T) []T) []T {
	o := 0
	for k := len(m.blocks) - 1; k >= 0; k-- {
		g = step(m.blocks[k], g, m.adj[1-o], m.adj[o])
		o = 1 - o
	}
	return g
}

// bindGrads points every layer's gradient accumulators at grads (nil unbinds).
func (m *Model[T]) bindGrads(grads *Params[T]) {
	get := func(name string) []T {
		if grads == nil {
			return nil
		}
		return grads.T[name].Data
	}
	m.stem.gw, m.stem.gb = get("stem.weight"), get("stem.bias")
	for k, b := range m.blocks {
		pre := fmt.Sprintf("blocks.%d.", k)
		b.c1.gw = get(pre + "c1.weight")
		b.c2.gw, b.c2.gb = get(pre+"c2.weight"), get(pre+"c2.bias")
		b.skip.gw, b.skip.gb = get(pre+"skip.weight"), get(pre+"skip.bias")
	}
	h := &m.head
	h.ga, h.gb1 = get("head.l1.weight"), get("head.l1.bias")
	h.gc, h.gb2 = get("head.l2.weight"), get("head.l2.bias")
	h.gd = get("head.lq.weight")
}

func (m *Model[T]) lastOut() []T {
	if len(m.blocks) == 0 {
		return m.h0
	}
	return m.blocks[len(m.blocks)-1].out
}

func (m *Model[T]) lastOutTangent() []T {
	if len(m.blocks) == 0 {
		return m.h0d
	}
	return m.blocks[len(m.blocks)-1].outd
}

// forward runs the primal pass and stores the activations backward passes need.
func (m *Model[T]) forward(x []T, n int) {
	m.alloc(n, false)
	m.ready = false
	c := m.cfg
	toChannelMajor(x, n, c.InChannels, m.plane, m.x)
	m.stem.forward(m.x, n, c.ImageSize, m.h0, m.col, true)
	in := m.h0[:n*c.Filters*m.plane]
	for _, b := range m.blocks {
		b.forward(in, n, m.col, m.bufZ, m.bufA, m.adj[0])
		in = b.out[:n*b.spec.cout*b.outPlane()]
	}
}

// a1 writes a1 = elu(in) of the block's stored input into scratch and returns it: the
// same bits every time (elu splits its work by the length alone).
func (b *block[T]) a1(scratch []T, n int) []T {
	a1 := scratch[:n*b.spec.cin*b.spec.size*b.spec.size]
	elu(b.in[:len(a1)], a1)
	return a1
}

// pooledIn writes the 2x2 mean pool of a down block's stored input into scratch and returns
// it.
func (b *block[T]) pooledIn(scratch []T, n int) []T {
	s := b.spec.size
	p := scratch[:n*b.spec.cin*s*s/4]
	meanPool(b.in[:4*len(p)], b.spec.cin*n, s, p)
	return p
}

func (b *block[T]) outPlane() int { return b.spec.outPlane() }

// forward: out = [pool] c2(elu(c1(elu(in)))) + skip([pool] in). t0, t1 and ta are scratch
// (Config.scratchSizes): a1 = elu(in) goes to ta.
func (b *block[T]) forward(in []T, n int, col, t0, t1, ta []T) {
	bs := b.spec
	s, sz := bs.size, bs.size*bs.size
	b.in = in
	a1, a2 := b.a1(ta, n), b.a2[:n*bs.cin*sz]
	z1 := t0[:n*bs.cin*sz]
	b.c1.forward(a1, n, s, z1, col, false)
	elu(z1, a2)
	out := b.out[:n*bs.cout*b.outPlane()]
	skipIn, os := in, s
	if bs.down {
		z2 := t0[:n*bs.cout*sz]
		b.c2.forward(a2, n, s, z2, col, true)
		meanPool(z2, bs.cout*n, s, out)
		skipIn, os = b.pooledIn(t0, n), s/2 // z2 is spent
	} else {
		b.c2.forward(a2, n, s, out, col, true)
	}
	sk := t1[:len(out)]
	b.skip.forward(skipIn, n, os, sk, nil, true)
	addInto(out, sk)
}

// tangentForward propagates the input tangent m.xd through the network (no biases: a
// tangent is a difference of activations).
func (m *Model[T]) tangentForward() {
	n, c := m.n, m.cfg
	m.stem.forward(m.xd, n, c.ImageSize, m.h0d, m.col, false)
	ind := m.h0d[:n*c.Filters*m.plane]
	for _, b := range m.blocks {
		b.ind = ind
		b.tangentForward(ind, n, m.col, m.bufZ, m.bufA, m.adj[0])
		ind = b.outd[:n*b.spec.cout*b.outPlane()]
	}
}

// tangentForward propagates the block input's tangent ind; t0, t1 and ta are scratch
// (Config.scratchSizes).
func (b *block[T]) tangentForward(ind []T, n int, col, t0, t1, ta []T) {
	bs := b.spec
	s, sz := bs.size, bs.size*bs.size
	a1d, a2d := b.a1d[:n*bs.cin*sz], b.a2d[:n*bs.cin*sz]
	eluTangent(b.a1(ta, n), ind, a1d)
	z1d := t0[:n*bs.cin*sz]
	b.c1.forward(a1d, n, s, z1d, col, false)
	eluTangent(b.a2[:len(a2d)], z1d, a2d)
	outd := b.outd[:n*bs.cout*b.outPlane()]
	skipIn, os := ind, s
	if bs.down {
		z2d := t0[:n*bs.cout*sz]
		b.c2.forward(a2d, n, s, z2d, col, false)
		meanPool(z2d, bs.cout*n, s, outd)
		skipIn, os = b.sd[:n*bs.cin*sz/4], s/2
		meanPool(ind, bs.cin*n, s, skipIn)
	} else {
		b.c2.forward(a2d, n, s, outd, col, false)
	}
	sk := t1[:len(outd)]
	b.skip.forward(skipIn, n, os, sk, nil, false)
	addInto(outd, sk)
}
