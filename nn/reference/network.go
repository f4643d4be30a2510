// Package reference builds the MDSM energy network of package nn as a gorgonia graph: an
// independent implementation of the same function, used to cross-check the hand-written
// fast engine (forward, dE/dx and the score-matching weight gradient) and selectable as an
// alternative engine.
//
// It follows docs/GORGONIA.md: TapeMachine only, first-order Grad only, the MDSM weight
// gradient through the tangent formulation (a forward tangent pass built into the graph,
// then one Grad), own ops for the 2x2 mean pool, reshapes and biases, ELU from stock ops with
// the mask held as a value, and head weights as (n, 1) matrices.
package reference

import (
	"errors"
	"fmt"
	"runtime/debug"

	"mdsm/nn"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Network is the energy network of a Params set built as two gorgonia graphs for a fixed
// batch size: one for the energy and dE/dx, one for the MDSM weight gradient (docs/GORGONIA.md
// pitfall A forbids a second Grad in the graph of the first).
//
// Every call copies the current values of the Params into the graphs, so the Network reads
// its Params live like nn.Model, yet gorgonia never aliases them. A Network is not safe for
// concurrent use; give each goroutine its own, over its own Params snapshot.
type Network struct {
	cfg nn.Config
	p   *nn.Params[float64]
	n   int

	energy *energyGraph // built by New
	train  *trainGraph  // built on the first TrainingGrad
}

// weight is one input of a graph (a parameter or an image batch): its node and the value
// bound to it, a tensor or, for shape (), a scalar.
type weight struct {
	name   string
	node   *G.Node
	value  *tensor.Dense // nil for a scalar
	scalar *G.F64
	shape  tensor.Shape
}

// graphBase is what both graphs share: the graph, its machine and its bound parameters.
type graphBase struct {
	g       *G.ExprGraph
	vm      G.VM
	weights []*weight // the nn parameters, in graph order
}

// energyGraph computes E for every image and dE/dx.
type energyGraph struct {
	graphBase
	x     *weight
	e, gx G.Value // read back after each run
}

// trainGraph computes d/dtheta sum_i v_i . dE/dx(x_i) by the tangent formulation.
type trainGraph struct {
	graphBase
	x, v  *weight
	names []string  // parameter names, in the order of grads
	grads []G.Value // read back after each run
	zeros []string  // parameters with zero gradient (the energy offset)
}

// New builds the energy graph of p for batches of exactly n images. The training graph is
// built on the first TrainingGrad call. p must hold a valid configuration.
func New(p *nn.Params[float64], n int) (net *Network, err error) {
	if p == nil {
		return nil, errors.New("reference: nil parameters")
	}
	if n < 1 {
		return nil, fmt.Errorf("reference: batch size %d: must be at least 1", n)
	}
	if err := p.Config.Validate(); err != nil {
		return nil, fmt.Errorf("reference: invalid configuration: %w", err)
	}
	for _, s := range p.Config.ParamSpecs() {
		t, err := p.Get(s.Name)
		if err != nil {
			return nil, fmt.Errorf("reference: %w", err)
		}
		if len(t.Data) != tensor.Shape(s.Shape).TotalSize() {
			return nil, fmt.Errorf("reference: parameter %s has %d values, its shape %v needs %d", s.Name, len(t.Data), s.Shape, tensor.Shape(s.Shape).TotalSize())
		}
	}
	defer recoverInto(&err, "building the energy graph")
	net = &Network{cfg: p.Config, p: p, n: n}
	if net.energy, err = buildEnergyGraph(p.Config, n); err != nil {
		return nil, fmt.Errorf("reference: building the energy graph: %w", err)
	}
	return net, nil
}

// Config is the network configuration.
func (net *Network) Config() nn.Config { return net.cfg }

// BatchSize is the fixed number of images every call takes.
func (net *Network) BatchSize() int { return net.n }

// EnergyGrad returns E(x_i) for the n images of x (NCHW, n*C*H*W values) and dE/dx in the
// layout of x: forward pass plus one first-order Grad.
func (net *Network) EnergyGrad(x []float64) (e, g []float64, err error) {
	if err := net.checkInput("x", x); err != nil {
		return nil, nil, err
	}
	defer recoverInto(&err, "evaluating the energy graph")
	eg := net.energy
	if err := eg.bind(net.p); err != nil {
		return nil, nil, err
	}
	if err := eg.x.set(x); err != nil {
		return nil, nil, err
	}
	if err := eg.run(); err != nil {
		return nil, nil, fmt.Errorf("reference: running the energy graph: %w", err)
	}
	if e, err = toFloat64s(eg.e, net.n); err != nil {
		return nil, nil, fmt.Errorf("reference: reading the energies: %w", err)
	}
	if g, err = toFloat64s(eg.gx, len(x)); err != nil {
		return nil, nil, fmt.Errorf("reference: reading dE/dx: %w", err)
	}
	return e, g, nil
}

// TrainingGrad returns, keyed by the nn parameter names, the weight gradient of
//
//	S(theta) = sum_i v_i . dE/dx(xn_i; theta)
//
// with v held constant: the exact MDSM weight gradient when v = dL/d(dE/dx) (the tangent
// formulation of docs/GORGONIA.md; nn.Model.DirectionalGrad computes the same). xn and v are NCHW
// with n*C*H*W values. The energy offset (nn.EnergyOffset) has a zero gradient and is
// returned as zeros; it is not part of the graph's Grad, which would reject it.
// Unlike nn.Model.DirectionalGrad it needs no preceding EnergyGrad call.
func (net *Network) TrainingGrad(xn, v []float64) (grads map[string][]float64, err error) {
	if err := net.checkInput("xn", xn); err != nil {
		return nil, err
	}
	if err := net.checkInput("v", v); err != nil {
		return nil, err
	}
	defer recoverInto(&err, "evaluating the training graph")
	if net.train == nil {
		if net.train, err = buildTrainGraph(net.cfg, net.n); err != nil {
			return nil, fmt.Errorf("reference: building the training graph: %w", err)
		}
	}
	tg := net.train
	if err := tg.bind(net.p); err != nil {
		return nil, err
	}
	if err := tg.x.set(xn); err != nil {
		return nil, err
	}
	if err := tg.v.set(v); err != nil {
		return nil, err
	}
	if err := tg.run(); err != nil {
		return nil, fmt.Errorf("reference: running the training graph: %w", err)
	}
	grads = make(map[string][]float64, len(tg.names)+len(tg.zeros))
	for i, name := range tg.names {
		size := len(net.p.T[name].Data)
		if grads[name], err = toFloat64s(tg.grads[i], size); err != nil {
			return nil, fmt.Errorf("reference: reading the gradient of %s: %w", name, err)
		}
	}
	for _, name := range tg.zeros {
		grads[name] = make([]float64, len(net.p.T[name].Data))
	}
	return grads, nil
}

func (net *Network) checkInput(what string, x []float64) error {
	if want := net.n * net.cfg.Dim(); len(x) != want {
		return fmt.Errorf("reference: %s has %d values, a batch of %d images of %dx%dx%d needs %d",
			what, len(x), net.n, net.cfg.InChannels, net.cfg.ImageSize, net.cfg.ImageSize, want)
	}
	return nil
}

// recoverInto turns a panic inside gorgonia into an error at the API boundary.
func recoverInto(err *error, what string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("reference: gorgonia panicked while %s: %v\n%s", what, r, debug.Stack())
	}
}

// ---------------------------------------------------------------------------------------
// Binding values.

// newWeight adds an input node of the given shape (none: a scalar) and binds zeros to it.
func (gb *graphBase) newWeight(name string, shape ...int) *weight {
	s := tensor.Shape(shape).Clone()
	w := &weight{name: name, shape: s}
	if len(s) == 0 { // scalar
		w.scalar = G.NewF64(0)
		w.node = G.NewScalar(gb.g, tensor.Float64, G.WithName(name), G.WithValue(w.scalar))
	} else {
		w.value = tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(s...))
		w.node = G.NewTensor(gb.g, tensor.Float64, len(s), G.WithShape(s...), G.WithName(name), G.WithValue(w.value))
	}
	return w
}

// param adds the named nn parameter with the graph shape given (the data layout is the
// same as nn's; only the shape differs, e.g. head weights [1, n] become (n, 1)).
func (gb *graphBase) param(name string, shape ...int) *G.Node {
	w := gb.newWeight(name, shape...)
	gb.weights = append(gb.weights, w)
	return w.node
}

// set copies data into the tensor bound to w. The shape is restored first because a stock
// op may have reshaped the bound tensor in place, and the node is re-bound in case a
// machine replaced its value.
func (w *weight) set(data []float64) error {
	if w.scalar != nil {
		if len(data) != 1 {
			return fmt.Errorf("reference: %s needs 1 value, got %d", w.name, len(data))
		}
		*w.scalar = G.F64(data[0])
		if err := G.Let(w.node, w.scalar); err != nil {
			return fmt.Errorf("reference: binding %s: %w", w.name, err)
		}
		return nil
	}
	if err := w.value.Reshape(w.shape...); err != nil {
		return fmt.Errorf("reference: restoring the shape of %s: %w", w.name, err)
	}
	dst := w.value.Float64s()
	if len(dst) != len(data) {
		return fmt.Errorf("reference: %s needs %d values, got %d", w.name, len(dst), len(data))
	}
	copy(dst, data)
	if err := G.Let(w.node, w.value); err != nil {
		return fmt.Errorf("reference: binding %s: %w", w.name, err)
	}
	return nil
}

// bind copies the current parameter values into the graph.
func (gb *graphBase) bind(p *nn.Params[float64]) error {
	for _, w := range gb.weights {
		t, err := p.Get(w.name)
		if err != nil {
			return fmt.Errorf("reference: %w", err)
		}
		if err := w.set(t.Data); err != nil {
			return err
		}
	}
	return nil
}

// compile creates the tape machine (NewTapeMachine panics on a compile error).
func (gb *graphBase) compile() (err error) {
	defer recoverInto(&err, "compiling the graph")
	gb.vm = G.NewTapeMachine(gb.g)
	return nil
}

// run executes the tape once and resets it for the next call.
func (gb *graphBase) run() error {
	defer gb.vm.Reset()
	return gb.vm.RunAll()
}

// toFloat64s copies a read-back value into a new slice of the expected length.
func toFloat64s(v G.Value, want int) ([]float64, error) {
	if v == nil {
		return nil, errors.New("no value was read back")
	}
	var data []float64
	switch s := v.(type) {
	case *G.F64:
		data = []float64{float64(*s)}
	case *tensor.Dense:
		f64, _, _, err := floats(s)
		if err != nil {
			return nil, err
		}
		if f64 == nil {
			return nil, fmt.Errorf("expected float64 values, got %v", s.Dtype())
		}
		data = f64
	default:
		return nil, fmt.Errorf("unexpected value type %T", v)
	}
	if len(data) != want {
		return nil, fmt.Errorf("got %d values, expected %d", len(data), want)
	}
	return append([]float64(nil), data...), nil
}

// ---------------------------------------------------------------------------------------
// Graph construction. A builder carries the first error so that the layer code reads like
// the network; every method is a no-op returning nil once an error occurred.

type builder struct {
	gb   *graphBase
	err  error
	zero *G.Node
}

func newBuilder(gb *graphBase) *builder {
	gb.g = G.NewGraph()
	return &builder{gb: gb, zero: G.NewConstant(0.0, G.WithName("zero"))}
}

func (b *builder) do(what string, f func() (*G.Node, error)) *G.Node {
	if b.err != nil {
		return nil
	}
	n, err := f()
	if err != nil {
		b.err = fmt.Errorf("%s: %w", what, err)
		return nil
	}
	return n
}

// conv is a stride-1 "same" convolution with a k x k kernel (k = 1 or 3), no bias.
func (b *builder) conv(x, w *G.Node, k int) *G.Node {
	return b.do("conv", func() (*G.Node, error) {
		return G.Conv2d(x, w, tensor.Shape{k, k}, []int{k / 2, k / 2}, []int{1, 1}, []int{1, 1})
	})
}

func (b *builder) bias(x, bias *G.Node) *G.Node {
	return b.do("bias", func() (*G.Node, error) { return AddBias(x, bias) })
}

func (b *builder) pool(x *G.Node) *G.Node {
	return b.do("mean pool", func() (*G.Node, error) { return MeanPool2x2(x) })
}

func (b *builder) add(x, y *G.Node) *G.Node {
	return b.do("add", func() (*G.Node, error) { return G.Add(x, y) })
}

func (b *builder) mul(x, y *G.Node) *G.Node {
	return b.do("hadamard", func() (*G.Node, error) { return G.HadamardProd(x, y) })
}

func (b *builder) matmul(x, y *G.Node) *G.Node {
	return b.do("matmul", func() (*G.Node, error) { return G.Mul(x, y) })
}

func (b *builder) flatten(x *G.Node) *G.Node {
	return b.do("flatten", func() (*G.Node, error) {
		s := x.Shape()
		return ReshapeCopy(x, s[0], s.TotalSize()/s[0])
	})
}

// elu returns ELU(h) = h*m + expm1(h - h*m) with the mask m = (h > 0) held as a value
// (docs/GORGONIA.md), and, when hd != nil, the tangent ELU'(h)*hd = exp(h - h*m)*hd.
func (b *builder) elu(h, hd *G.Node) (a, ad *G.Node) {
	m := b.do("elu mask", func() (*G.Node, error) { return G.Gt(h, b.zero, true) })
	pos := b.mul(h, m)
	neg := b.do("elu", func() (*G.Node, error) { return G.Sub(h, pos) })
	a = b.add(pos, b.do("elu", func() (*G.Node, error) { return G.Expm1(neg) }))
	if hd != nil {
		ad = b.mul(b.do("elu'", func() (*G.Node, error) { return G.Exp(neg) }), hd)
	}
	return a, ad
}

// layers adds the parameters of cfg to the graph, wires the primal pass of x through the
// convolutional trunk (and the tangent pass of xd when xd != nil, with the same weights and
// no biases), and returns the flattened final features h and hd (N, n).
func (b *builder) layers(cfg nn.Config, x, xd *G.Node) (h, hd *G.Node) {
	gb := b.gb
	f, c := cfg.Filters, cfg.InChannels
	ws, bs := gb.param("stem.weight", f, c, 3, 3), gb.param("stem.bias", f)
	h = b.bias(b.conv(x, ws, 3), bs)
	if xd != nil {
		hd = b.conv(xd, ws, 3)
	}
	k, ch := 0, f
	block := func(cin, cout int, down bool) {
		pre := fmt.Sprintf("blocks.%d.", k)
		k++
		w1 := gb.param(pre+"c1.weight", cin, cin, 3, 3)
		w2, b2 := gb.param(pre+"c2.weight", cout, cin, 3, 3), gb.param(pre+"c2.bias", cout)
		wk, bk := gb.param(pre+"skip.weight", cout, cin, 1, 1), gb.param(pre+"skip.bias", cout)

		a1, a1d := b.elu(h, hd)
		z1 := b.conv(a1, w1, 3)
		var z1d *G.Node
		if hd != nil {
			z1d = b.conv(a1d, w1, 3)
		}
		a2, a2d := b.elu(z1, z1d)
		z2 := b.bias(b.conv(a2, w2, 3), b2)
		s := h
		var z2d, sd *G.Node
		if hd != nil {
			z2d, sd = b.conv(a2d, w2, 3), hd
		}
		if down {
			z2, s = b.pool(z2), b.pool(s)
			if hd != nil {
				z2d, sd = b.pool(z2d), b.pool(sd)
			}
		}
		h = b.add(z2, b.bias(b.conv(s, wk, 1), bk))
		if hd != nil {
			hd = b.add(z2d, b.conv(sd, wk, 1))
		}
	}
	for st := 0; st < cfg.Stages; st++ {
		block(ch, 2*ch, true)
		ch *= 2
		for e := 0; e < cfg.ExtraBlocks; e++ {
			block(ch, ch, false)
		}
	}
	h = b.flatten(h)
	if hd != nil {
		hd = b.flatten(hd)
	}
	return h, hd
}

// headParams adds the head's weights as (n, 1) matrices (docs/GORGONIA.md pitfall F) and its
// biases b1, b2 as scalars (a scalar adds to an (N, 1) column without a broadcast, which
// would reshape: pitfall E).
func (b *builder) headParams(cfg nn.Config) (a, b1, c, b2, d *G.Node) {
	gb, n := b.gb, cfg.HeadInputs()
	a, b1 = gb.param("head.l1.weight", n, 1), gb.param("head.l1.bias")
	c, b2 = gb.param("head.l2.weight", n, 1), gb.param("head.l2.bias")
	d = gb.param("head.lq.weight", n, 1)
	return
}

func buildEnergyGraph(cfg nn.Config, n int) (*energyGraph, error) {
	eg := &energyGraph{}
	b := newBuilder(&eg.graphBase)
	eg.x = eg.newWeight("x", n, cfg.InChannels, cfg.ImageSize, cfg.ImageSize)
	h, _ := b.layers(cfg, eg.x.node, nil)
	a, b1, c, b2, d := b.headParams(cfg)
	b3 := eg.param(nn.EnergyOffset)
	// E = (a.h + b1)(c.h + b2) + d.(h*h) + b3, one row per image.
	u := b.add(b.matmul(h, a), b1)
	w := b.add(b.matmul(h, c), b2)
	sq := b.do("square", func() (*G.Node, error) { return G.Square(h) })
	e := b.add(b.add(b.mul(u, w), b.matmul(sq, d)), b3)
	cost := b.do("sum", func() (*G.Node, error) { return G.Sum(e) })
	var grads G.Nodes
	if b.err == nil {
		if grads, b.err = G.Grad(cost, eg.x.node); b.err != nil {
			b.err = fmt.Errorf("Grad(E, x): %w", b.err)
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	G.Read(e, &eg.e)
	G.Read(grads[0], &eg.gx)
	return eg, eg.compile()
}

func buildTrainGraph(cfg nn.Config, n int) (*trainGraph, error) {
	tg := &trainGraph{}
	b := newBuilder(&tg.graphBase)
	tg.x = tg.newWeight("xn", n, cfg.InChannels, cfg.ImageSize, cfg.ImageSize)
	tg.v = tg.newWeight("v", n, cfg.InChannels, cfg.ImageSize, cfg.ImageSize)
	h, hd := b.layers(cfg, tg.x.node, tg.v.node)
	a, b1, c, b2, d := b.headParams(cfg)
	// Tangent of the head along hd (product rule):
	//   Edot = (a.hd)(c.h + b2) + (a.h + b1)(c.hd) + 2 d.(h*hd)
	u := b.add(b.matmul(h, a), b1)
	w := b.add(b.matmul(h, c), b2)
	ud, wd := b.matmul(hd, a), b.matmul(hd, c)
	q := b.matmul(b.mul(h, hd), d)
	q2 := b.add(q, q)
	ed := b.add(b.add(b.mul(ud, w), b.mul(u, wd)), q2)
	s := b.do("sum", func() (*G.Node, error) { return G.Sum(ed) })
	if b.err != nil {
		return nil, b.err
	}
	// One first-order Grad w.r.t. every parameter in the graph; the energy offset is not
	// in it (it has zero gradient, and Grad rejects it).
	var wrt G.Nodes
	for _, wt := range tg.weights {
		tg.names = append(tg.names, wt.name)
		wrt = append(wrt, wt.node)
	}
	tg.zeros = []string{nn.EnergyOffset}
	grads, err := G.Grad(s, wrt...)
	if err != nil {
		return nil, fmt.Errorf("Grad(S, weights): %w", err)
	}
	tg.grads = make([]G.Value, len(grads))
	for i, gn := range grads {
		G.Read(gn, &tg.grads[i])
	}
	return tg, tg.compile()
}
