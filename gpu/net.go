package gpu

import (
	"fmt"

	"mdsm/nn"
)

// net is the energy network on a device: the same passes as nn.Model (forward, the
// energy's backward pass, the tangent forward pass and the training pass that reuses the
// energy's adjoints; see nn/backward.go), in NCHW, with cuDNN convolutions and the kernels
// of kernels.cu. Weights live in one flat device buffer in nn.Params.Flat's order, and so
// do the gradients.
type net struct {
	d   device
	cfg nn.Config
	W   Buf            // weights
	G   Buf            // gradient accumulators (training nets only)
	off map[string]int // float offset of every parameter in W and G
	sz  map[string]int // its length

	n, cap    int
	gen       int // counts the reallocations of the activation buffers (graphs refer to them)
	train     bool
	x, xd     Buf
	h0, h0d   Buf
	gh0, gx   Buf
	bufP      [4]Buf
	bufT      Buf
	u, w, e   Buf
	ud, wd    Buf
	blocks    []*gblock
	convs     map[[5]int]convOp
	allocated []Buf
}

// gblock is one residual block and its stored activations (NCHW).
type gblock struct {
	cin, cout, size int
	down            bool
	pre             string
	in, ind         Buf // block input and its tangent (owned by the previous layer)
	a1, a2, s, out  Buf
	a1d, a2d, sd    Buf
	outd            Buf
	gout, a1b, a2b  Buf // the energy's adjoints, kept for the training pass
}

func (b *gblock) outSize() int {
	if b.down {
		return b.size / 2
	}
	return b.size
}

// newNet lays out a network of cfg on d with room for the weights (and gradients when
// train).
func newNet(d device, cfg nn.Config, train bool) (*net, error) {
	m := &net{d: d, cfg: cfg, off: map[string]int{}, sz: map[string]int{}, train: train, convs: map[[5]int]convOp{}}
	total := 0
	for _, s := range cfg.ParamSpecs() {
		m.off[s.Name] = total
		k := 1
		for _, v := range s.Shape {
			k *= v
		}
		m.sz[s.Name] = k
		total += k
	}
	var err error
	if m.W, err = m.alloc(total); err != nil {
		return nil, err
	}
	if train {
		if m.G, err = m.alloc(total); err != nil {
			m.release()
			return nil, err
		}
	}
	ch, s := cfg.Filters, cfg.ImageSize
	for st := 0; st < cfg.Stages; st++ {
		m.blocks = append(m.blocks, &gblock{cin: ch, cout: 2 * ch, size: s, down: true})
		ch, s = 2*ch, s/2
		for e := 0; e < cfg.ExtraBlocks; e++ {
			m.blocks = append(m.blocks, &gblock{cin: ch, cout: ch, size: s})
		}
	}
	for k, b := range m.blocks {
		b.pre = fmt.Sprintf("blocks.%d.", k)
	}
	return m, nil
}

func (m *net) alloc(n int) (Buf, error) {
	b, err := m.d.alloc(max(n, 1))
	if err != nil {
		return Buf{}, err
	}
	b.N = n
	m.allocated = append(m.allocated, b)
	return b, nil
}

// release frees every buffer of the net.
func (m *net) release() {
	for _, b := range m.allocated {
		m.d.free(b)
	}
	m.allocated = nil
}

// param is the weight tensor name; grad its gradient.
func (m *net) param(name string) Buf {
	return m.W.At(m.off[name], m.size(name))
}

func (m *net) grad(name string) Buf { return m.G.At(m.off[name], m.size(name)) }

func (m *net) size(name string) int {
	k, ok := m.sz[name]
	if !ok {
		panic("gpu: no parameter " + name)
	}
	return k
}

// conv returns the convolution of a shape for batch n.
func (m *net) conv(n, cin, cout, s, k int) (convOp, error) {
	key := [5]int{n, cin, cout, s, k}
	if c, ok := m.convs[key]; ok {
		return c, nil
	}
	c, err := m.d.conv(n, cin, cout, s, k)
	if err != nil {
		return nil, err
	}
	m.convs[key] = c
	return c, nil
}

// ensure sizes every activation buffer for batch n (growing only).
func (m *net) ensure(n int) error {
	if n <= m.cap {
		m.n = n
		return nil
	}
	c := m.cfg
	s0 := c.ImageSize * c.ImageSize
	maxAct := c.Filters * s0
	mk := func(k int) (Buf, error) { return m.alloc(n * k) }
	var errs []error
	get := func(k int) Buf {
		b, err := mk(k)
		if err != nil {
			errs = append(errs, err)
		}
		return b
	}
	m.x, m.gx, m.h0 = get(c.InChannels*s0), get(c.InChannels*s0), get(c.Filters*s0)
	for _, b := range m.blocks {
		sz := b.size * b.size
		osz := b.outSize() * b.outSize()
		b.a1, b.a2, b.out = get(b.cin*sz), get(b.cin*sz), get(b.cout*osz)
		if b.down {
			b.s = get(b.cin * osz)
		}
		maxAct = max(maxAct, b.cin*sz, b.cout*sz)
		if m.train {
			b.a1d, b.a2d, b.outd = get(b.cin*sz), get(b.cin*sz), get(b.cout*osz)
			if b.down {
				b.sd = get(b.cin * osz)
			}
			b.gout, b.a1b, b.a2b = get(b.cout*osz), get(b.cin*sz), get(b.cin*sz)
		}
	}
	for i := range m.bufP {
		m.bufP[i] = get(maxAct)
	}
	m.u, m.w, m.e = get(1), get(1), get(1)
	if m.train {
		m.xd, m.h0d, m.gh0 = get(c.InChannels*s0), get(c.Filters*s0), get(c.Filters*s0)
		m.bufT = get(maxAct)
		m.ud, m.wd = get(1), get(1)
	}
	if len(errs) > 0 {
		return errs[0]
	}
	m.cap, m.n = n, n
	m.gen++
	return nil
}

// lastOut is the final feature map (and its tangent).
func (m *net) lastOut(tangent bool) Buf {
	n := m.n
	if len(m.blocks) == 0 {
		b := m.h0
		if tangent {
			b = m.h0d
		}
		return b.At(0, n*m.cfg.Filters*m.cfg.ImageSize*m.cfg.ImageSize)
	}
	b := m.blocks[len(m.blocks)-1]
	k := n * b.cout * b.outSize() * b.outSize()
	if tangent {
		return b.outd.At(0, k)
	}
	return b.out.At(0, k)
}

// forward runs the primal pass on m.x (n images, already on the device) and the head's
// energy into m.e.
func (m *net) forward() error {
	n, c := m.n, m.cfg
	s0 := c.ImageSize * c.ImageSize
	stem, err := m.conv(n, c.InChannels, c.Filters, c.ImageSize, 3)
	if err != nil {
		return err
	}
	h0 := m.h0.At(0, n*c.Filters*s0)
	stem.forward(m.x.At(0, n*c.InChannels*s0), m.param("stem.weight"), h0, 0)
	m.d.addBias(h0, m.param("stem.bias"), Buf{}, n, c.Filters, s0)
	in := h0
	for _, b := range m.blocks {
		if err := m.blockForward(b, in, false); err != nil {
			return err
		}
		in = b.out.At(0, n*b.cout*b.outSize()*b.outSize())
	}
	F := c.HeadInputs()
	m.d.headEnergy(in, m.param("head.l1.weight"), m.param("head.l1.bias"), m.param("head.l2.weight"), m.param("head.l2.bias"),
		m.param("head.lq.weight"), m.param("head.lq.bias"), m.u.At(0, n), m.w.At(0, n), m.e.At(0, n), n, F)
	return nil
}

// blockForward: out = [pool] c2(elu(c1(elu(in)))) + skip([pool] in) (+ biases); with
// tangent, the same linearised map on the tangents (no biases).
func (m *net) blockForward(b *gblock, in Buf, tangent bool) error {
	n, s := m.n, b.size
	sz, os := s*s, b.outSize()*b.outSize()
	c1, err := m.conv(n, b.cin, b.cin, s, 3)
	if err != nil {
		return err
	}
	c2, err := m.conv(n, b.cin, b.cout, s, 3)
	if err != nil {
		return err
	}
	skip, err := m.conv(n, b.cin, b.cout, b.outSize(), 1)
	if err != nil {
		return err
	}
	a1, a2 := b.a1.At(0, n*b.cin*sz), b.a2.At(0, n*b.cin*sz)
	out, sp := b.out.At(0, n*b.cout*os), Buf{}
	if b.down {
		sp = b.s.At(0, n*b.cin*os)
	}
	z1 := m.bufP[0].At(0, n*b.cin*sz)
	if tangent {
		b.ind = in
		a1d, a2d := b.a1d.At(0, len1(a1)), b.a2d.At(0, len1(a2))
		m.d.eluTangent(a1, in, a1d)
		c1.forward(a1d, m.param(b.pre+"c1.weight"), z1, 0)
		m.d.eluTangent(a2, z1, a2d)
		a1, a2 = a1d, a2d
		out = b.outd.At(0, n*b.cout*os)
		if b.down {
			sp = b.sd.At(0, n*b.cin*os)
		}
	} else {
		b.in = in
		m.d.elu(in, a1)
		c1.forward(a1, m.param(b.pre+"c1.weight"), z1, 0)
		m.d.elu(z1, a2)
	}
	if b.down {
		z2 := m.bufP[0].At(0, n*b.cout*sz)
		c2.forward(a2, m.param(b.pre+"c2.weight"), z2, 0)
		m.d.meanPool(in, sp, n*b.cin, s, false)
		skip.forward(sp, m.param(b.pre+"skip.weight"), out, 0)
		m.d.meanPool(z2, out, n*b.cout, s, true)
	} else {
		c2.forward(a2, m.param(b.pre+"c2.weight"), out, 0)
		skip.forward(in, m.param(b.pre+"skip.weight"), out, 1)
	}
	if !tangent {
		m.d.addBias(out, m.param(b.pre+"c2.bias"), m.param(b.pre+"skip.bias"), n, b.cout, os)
	}
	return nil
}

func len1(b Buf) int { return b.N }

// energyBackward propagates dE/d(out) = 1 per sample from the head to the input, writing
// dE/dx into m.gx; a training net keeps the adjoints for trainBackward.
func (m *net) energyBackward() error {
	n, c := m.n, m.cfg
	last := m.lastOut(false)
	F := c.HeadInputs()
	g := m.bufP[0].At(0, last.N)
	m.d.headInputGrad(last, m.param("head.l1.weight"), m.param("head.l2.weight"), m.param("head.lq.weight"), m.u.At(0, n), m.w.At(0, n), g, n, F)
	o := 0
	for k := len(m.blocks) - 1; k >= 0; k-- {
		i, z, a := (o+1)%4, (o+2)%4, (o+3)%4
		var err error
		if g, err = m.blockEnergyBackward(m.blocks[k], g, m.bufP[i], m.bufP[z], m.bufP[a]); err != nil {
			return err
		}
		o = i
	}
	if m.train {
		m.d.copyBuf(m.gh0.At(0, g.N), g)
	}
	stem, err := m.conv(n, c.InChannels, c.Filters, c.ImageSize, 3)
	if err != nil {
		return err
	}
	stem.backwardData(m.param("stem.weight"), g, m.gx.At(0, n*c.Dim()), 0)
	return nil
}

func (m *net) blockEnergyBackward(b *gblock, gOut, pi, pz, pa Buf) (Buf, error) {
	n, s := m.n, b.size
	sz, os := s*s, b.outSize()*b.outSize()
	inLen := n * b.cin * sz
	c1, _ := m.conv(n, b.cin, b.cin, s, 3)
	c2, _ := m.conv(n, b.cin, b.cout, s, 3)
	skip, err := m.conv(n, b.cin, b.cout, b.outSize(), 1)
	if err != nil {
		return Buf{}, err
	}
	gIn := pi.At(0, inLen)
	if m.train {
		m.d.copyBuf(b.gout.At(0, gOut.N), gOut)
	}
	z2bar := gOut
	if b.down {
		sbar := pa.At(0, n*b.cin*os)
		skip.backwardData(m.param(b.pre+"skip.weight"), gOut, sbar, 0)
		m.d.meanUnpool(sbar, gIn, n*b.cin, s, false)
		z2bar = pz.At(0, n*b.cout*sz)
		m.d.meanUnpool(gOut, z2bar, n*b.cout, s, false)
	} else {
		skip.backwardData(m.param(b.pre+"skip.weight"), gOut, gIn, 0)
	}
	a2bar := pa.At(0, inLen)
	c2.backwardData(m.param(b.pre+"c2.weight"), z2bar, a2bar, 0)
	if m.train {
		m.d.copyBuf(b.a2b.At(0, inLen), a2bar)
	}
	m.d.eluBackward(b.a2.At(0, inLen), a2bar)
	a1bar := pz.At(0, inLen)
	c1.backwardData(m.param(b.pre+"c1.weight"), a2bar, a1bar, 0)
	if m.train {
		m.d.copyBuf(b.a1b.At(0, inLen), a1bar)
	}
	m.d.eluBackward(b.a1.At(0, inLen), a1bar)
	m.d.add(gIn, a1bar)
	return gIn, nil
}

// directionalGrad accumulates into G the weight gradient of S = sum_b v_b . dE/dx_b at the
// x of the last forward/energyBackward, v in m.xd (the tangent formulation, as
// nn.Model.DirectionalGrad).
func (m *net) directionalGrad() error {
	n, c := m.n, m.cfg
	s0 := c.ImageSize * c.ImageSize
	stem, err := m.conv(n, c.InChannels, c.Filters, c.ImageSize, 3)
	if err != nil {
		return err
	}
	xd := m.xd.At(0, n*c.Dim())
	h0d := m.h0d.At(0, n*c.Filters*s0)
	stem.forward(xd, m.param("stem.weight"), h0d, 0)
	ind := h0d
	for _, b := range m.blocks {
		if err := m.blockForward(b, ind, true); err != nil {
			return err
		}
		ind = b.outd.At(0, n*b.cout*b.outSize()*b.outSize())
	}
	last, lastd := m.lastOut(false), m.lastOut(true)
	F := c.HeadInputs()
	gP := m.bufP[0].At(0, last.N)
	ud, wd := m.ud.At(0, n), m.wd.At(0, n)
	a, cc, d := m.param("head.l1.weight"), m.param("head.l2.weight"), m.param("head.lq.weight")
	m.d.headTangent(lastd, a, cc, d, ud, wd, gP, n, F)
	m.d.headWeightGrad(last, lastd, m.u.At(0, n), m.w.At(0, n), ud, wd, m.grad("head.l1.weight"), m.grad("head.l2.weight"),
		m.grad("head.lq.weight"), m.grad("head.l1.bias"), m.grad("head.l2.bias"), n, F)
	o := 0
	for k := len(m.blocks) - 1; k >= 0; k-- {
		i, z, aa := (o+1)%4, (o+2)%4, (o+3)%4
		if gP, err = m.blockTrainBackward(m.blocks[k], gP, m.bufP[i], m.bufP[z], m.bufP[aa], m.bufT); err != nil {
			return err
		}
		o = i
	}
	stem.backwardFilter(m.x.At(0, n*c.Dim()), gP, m.grad("stem.weight"), 1)
	m.d.biasGrad(gP, m.grad("stem.bias"), n, c.Filters, s0)
	stem.backwardFilter(xd, m.gh0.At(0, gP.N), m.grad("stem.weight"), 1)
	return nil
}

// blockTrainBackward is nn's backwardTrain: primal adjoint gOut = dS/d(out) to the block
// input (returned in pi), weight gradients accumulated, tangent adjoints from the energy's
// kept ones.
func (m *net) blockTrainBackward(b *gblock, gOut, pi, pz, pa, tz Buf) (Buf, error) {
	n, s := m.n, b.size
	sz, os := s*s, b.outSize()*b.outSize()
	inLen := n * b.cin * sz
	c1, _ := m.conv(n, b.cin, b.cin, s, 3)
	c2, _ := m.conv(n, b.cin, b.cout, s, 3)
	skip, err := m.conv(n, b.cin, b.cout, b.outSize(), 1)
	if err != nil {
		return Buf{}, err
	}
	gIn := pi.At(0, inLen)
	gOutT := b.gout.At(0, gOut.N)
	skw, skb := m.grad(b.pre+"skip.weight"), m.grad(b.pre+"skip.bias")
	z2bar, z2barT := gOut, gOutT
	if b.down {
		pooled := n * b.cin * os
		skip.backwardFilter(b.s.At(0, pooled), gOut, skw, 1)
		skip.backwardFilter(b.sd.At(0, pooled), gOutT, skw, 1)
		m.d.biasGrad(gOut, skb, n, b.cout, os)
		sbar := pa.At(0, pooled)
		skip.backwardData(m.param(b.pre+"skip.weight"), gOut, sbar, 0)
		m.d.meanUnpool(sbar, gIn, n*b.cin, s, false)
		z2bar = pz.At(0, n*b.cout*sz)
		m.d.meanUnpool(gOut, z2bar, n*b.cout, s, false)
		z2barT = tz.At(0, n*b.cout*sz)
		m.d.meanUnpool(gOutT, z2barT, n*b.cout, s, false)
	} else {
		skip.backwardFilter(b.in, gOut, skw, 1)
		skip.backwardFilter(b.ind, gOutT, skw, 1)
		m.d.biasGrad(gOut, skb, n, b.cout, os)
		skip.backwardData(m.param(b.pre+"skip.weight"), gOut, gIn, 0)
	}
	a1, a2 := b.a1.At(0, inLen), b.a2.At(0, inLen)
	a1d, a2d := b.a1d.At(0, inLen), b.a2d.At(0, inLen)
	c2w := m.grad(b.pre + "c2.weight")
	c2.backwardFilter(a2, z2bar, c2w, 1)
	m.d.biasGrad(z2bar, m.grad(b.pre+"c2.bias"), n, b.cout, sz)
	c2.backwardFilter(a2d, z2barT, c2w, 1)
	a2bar := pa.At(0, inLen)
	c2.backwardData(m.param(b.pre+"c2.weight"), z2bar, a2bar, 0)
	z1barT := tz.At(0, inLen)
	m.d.eluBackwardSecond(a2, a2bar, a2d, b.a2b.At(0, inLen), z1barT)
	c1w := m.grad(b.pre + "c1.weight")
	c1.backwardFilter(a1, a2bar, c1w, 1)
	c1.backwardFilter(a1d, z1barT, c1w, 1)
	a1bar := pz.At(0, inLen)
	c1.backwardData(m.param(b.pre+"c1.weight"), a2bar, a1bar, 0)
	m.d.eluBackwardSecond(a1, a1bar, a1d, b.a1b.At(0, inLen), Buf{})
	m.d.add(gIn, a1bar)
	return gIn, nil
}
