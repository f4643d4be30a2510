package reference

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the gorgonia ops the network needs and that the stock library gets wrong
// (docs/GORGONIA.md): a 2x2 mean pool with its adjoint (pitfall D: the stock AveragePool2D
// backward only feeds the first window), a reshape that copies (pitfall E: the stock
// Reshape aliases its input), and a per-channel bias add (the stock BroadcastAdd reshapes
// internally, pitfall E again). Every op allocates a fresh output and never writes its
// inputs, so the tape machine's register reuse cannot corrupt them.
//
// Each op is linear, and its SymDiff applies its adjoint, which is again one of these ops
// (meanPool <-> meanUnpool, reshapeCopy <-> reshapeCopy), so the ops could also be
// differentiated twice. addBias's bias adjoint (channelSum) is marked not differentiable:
// the tangent formulation never needs it.

// opBase supplies the Op methods that are the same for every op in this file.
type opBase struct{ name string }

func (o opBase) ReturnsPtr() bool      { return false }
func (o opBase) CallsExtern() bool     { return false }
func (o opBase) OverwritesInput() int  { return -1 }
func (o opBase) String() string        { return o.name }
func (o opBase) WriteHash(h hash.Hash) { fmt.Fprint(h, o.name) }
func (o opBase) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

// floats returns the data of a dense float tensor value in row-major order, materialising
// views (a transposed or sliced tensor) first.
func floats(v G.Value) (f64 []float64, f32 []float32, shape tensor.Shape, err error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, nil, nil, fmt.Errorf("expected a dense tensor, got %T", v)
	}
	if d.RequiresIterator() || d.IsMaterializable() {
		m, ok := d.Materialize().(*tensor.Dense)
		if !ok {
			return nil, nil, nil, fmt.Errorf("materialising a %v view failed", d.Shape())
		}
		d = m
	}
	switch data := d.Data().(type) {
	case []float64:
		return data, nil, d.Shape(), nil
	case []float32:
		return nil, data, d.Shape(), nil
	case float64:
		return []float64{data}, nil, d.Shape(), nil
	case float32:
		return nil, []float32{data}, d.Shape(), nil
	}
	return nil, nil, nil, fmt.Errorf("unsupported element type %v", d.Dtype())
}

// newDense allocates a zero tensor of the element type given by which of f64/f32 is set.
func newDense(f64 []float64, shape ...int) *tensor.Dense {
	dt := tensor.Float32
	if f64 != nil {
		dt = tensor.Float64
	}
	return tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
}

// unary runs a float kernel for either element type: in is the input data, out the output's.
func unary(v G.Value, outShape func(tensor.Shape) (tensor.Shape, error), k64 func(in, out []float64, s tensor.Shape), k32 func(in, out []float32, s tensor.Shape)) (G.Value, error) {
	f64, f32, s, err := floats(v)
	if err != nil {
		return nil, err
	}
	os, err := outShape(s)
	if err != nil {
		return nil, err
	}
	out := newDense(f64, os...)
	if f64 != nil {
		k64(f64, out.Float64s(), s)
	} else {
		k32(f32, out.Float32s(), s)
	}
	return out, nil
}

func tensorType(dims int) G.TensorType { return G.TensorType{Dims: dims, Of: hm.TypeVariable('a')} }

func shapeOf(ds G.DimSizer) (tensor.Shape, error) {
	s, ok := ds.(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("expected a tensor.Shape, got %T", ds)
	}
	return s, nil
}

func checkArgs(name string, n int, args int) error {
	if n != args {
		return fmt.Errorf("%s takes %d inputs, got %d", name, args, n)
	}
	return nil
}

// ---------------------------------------------------------------------------------------
// 2x2 mean pool and its adjoint.

// meanPoolOp averages each non-overlapping 2x2 window of an (N, C, H, W) tensor, H and W
// even: out[b,c,y,x] = (in[2y,2x] + in[2y,2x+1] + in[2y+1,2x] + in[2y+1,2x+1]) / 4.
type meanPoolOp struct{ opBase }

// meanUnpoolOp is the adjoint of meanPoolOp: it spreads each value, divided by 4, over its
// 2x2 window: out[b,c,y,x] = in[b,c,y/2,x/2] / 4.
type meanUnpoolOp struct{ opBase }

func newMeanPool() meanPoolOp     { return meanPoolOp{opBase{"MeanPool2x2"}} }
func newMeanUnpool() meanUnpoolOp { return meanUnpoolOp{opBase{"MeanUnpool2x2"}} }

// MeanPool2x2 applies the 2x2 mean pool to an (N, C, H, W) node with even H and W. Unlike the
// stock AveragePool2D its gradient reaches every window (docs/GORGONIA.md pitfall D).
func MeanPool2x2(x *G.Node) (*G.Node, error) {
	if err := checkPoolShape(x.Shape()); err != nil {
		return nil, err
	}
	return G.ApplyOp(newMeanPool(), x)
}

func checkPoolShape(s tensor.Shape) error {
	if s.Dims() != 4 || s[2]%2 != 0 || s[3]%2 != 0 {
		return fmt.Errorf("2x2 mean pool needs an (N, C, H, W) input with even H and W, got %v", s)
	}
	return nil
}

func (o meanPoolOp) Arity() int    { return 1 }
func (o meanPoolOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(4)) }
func (o meanPoolOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if err := checkArgs(o.name, len(in), 1); err != nil {
		return nil, err
	}
	s, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	return poolShape(s)
}

func poolShape(s tensor.Shape) (tensor.Shape, error) {
	if err := checkPoolShape(s); err != nil {
		return nil, err
	}
	return tensor.Shape{s[0], s[1], s[2] / 2, s[3] / 2}, nil
}

func unpoolShape(s tensor.Shape) (tensor.Shape, error) {
	if s.Dims() != 4 {
		return nil, fmt.Errorf("2x2 mean unpool needs an (N, C, H, W) input, got %v", s)
	}
	return tensor.Shape{s[0], s[1], s[2] * 2, s[3] * 2}, nil
}

func (o meanPoolOp) Do(v ...G.Value) (G.Value, error) {
	if err := checkArgs(o.name, len(v), 1); err != nil {
		return nil, err
	}
	return unary(v[0], poolShape, pool2x2[float64], pool2x2[float32])
}

func (o meanPoolOp) DiffWRT(int) []bool { return []bool{true} }

func (o meanPoolOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	if err := checkArgs(o.name, len(in), 1); err != nil {
		return nil, err
	}
	d, err := G.ApplyOp(newMeanUnpool(), grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

func (o meanUnpoolOp) Arity() int    { return 1 }
func (o meanUnpoolOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(4)) }
func (o meanUnpoolOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if err := checkArgs(o.name, len(in), 1); err != nil {
		return nil, err
	}
	s, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	return unpoolShape(s)
}

func (o meanUnpoolOp) Do(v ...G.Value) (G.Value, error) {
	if err := checkArgs(o.name, len(v), 1); err != nil {
		return nil, err
	}
	return unary(v[0], unpoolShape, unpool2x2[float64], unpool2x2[float32])
}

func (o meanUnpoolOp) DiffWRT(int) []bool { return []bool{true} }

func (o meanUnpoolOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	if err := checkArgs(o.name, len(in), 1); err != nil {
		return nil, err
	}
	d, err := G.ApplyOp(newMeanPool(), grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

// pool2x2 averages 2x2 windows; s is the input shape (N, C, H, W).
func pool2x2[T float32 | float64](in, out []T, s tensor.Shape) {
	planes, h, w := s[0]*s[1], s[2], s[3]
	oh, ow := h/2, w/2
	for p := 0; p < planes; p++ {
		src, dst := in[p*h*w:(p+1)*h*w], out[p*oh*ow:(p+1)*oh*ow]
		for y := 0; y < oh; y++ {
			r0, r1 := src[2*y*w:], src[(2*y+1)*w:]
			for x := 0; x < ow; x++ {
				dst[y*ow+x] = (r0[2*x] + r0[2*x+1] + r1[2*x] + r1[2*x+1]) / 4
			}
		}
	}
}

// unpool2x2 spreads each value / 4 over its window; s is the input shape (N, C, h, w).
func unpool2x2[T float32 | float64](in, out []T, s tensor.Shape) {
	planes, h, w := s[0]*s[1], s[2], s[3]
	ow := 2 * w
	for p := 0; p < planes; p++ {
		src, dst := in[p*h*w:(p+1)*h*w], out[p*4*h*w:(p+1)*4*h*w]
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := src[y*w+x] / 4
				i := 2*y*ow + 2*x
				dst[i], dst[i+1], dst[i+ow], dst[i+ow+1] = v, v, v, v
			}
		}
	}
}

// ---------------------------------------------------------------------------------------
// Copying reshape.

// reshapeCopyOp reshapes by copying the data into a fresh tensor, so the result never
// aliases its input (docs/GORGONIA.md pitfall E). Its adjoint is the copying reshape back.
type reshapeCopyOp struct {
	opBase
	from, to tensor.Shape
}

// ReshapeCopy returns x reshaped to the given shape (same number of elements) as a copy.
func ReshapeCopy(x *G.Node, to ...int) (*G.Node, error) {
	return G.ApplyOp(newReshapeCopy(x.Shape(), tensor.Shape(to)), x)
}

func newReshapeCopy(from, to tensor.Shape) reshapeCopyOp {
	return reshapeCopyOp{opBase{fmt.Sprintf("ReshapeCopy%v->%v", from, to)}, from.Clone(), to.Clone()}
}

func (o reshapeCopyOp) Arity() int { return 1 }
func (o reshapeCopyOp) Type() hm.Type {
	return hm.NewFnType(tensorType(o.from.Dims()), tensorType(o.to.Dims()))
}
func (o reshapeCopyOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if err := checkArgs(o.name, len(in), 1); err != nil {
		return nil, err
	}
	s, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	return o.check(s)
}

func (o reshapeCopyOp) check(s tensor.Shape) (tensor.Shape, error) {
	if !s.Eq(o.from) || s.TotalSize() != o.to.TotalSize() {
		return nil, fmt.Errorf("%s: input shape %v does not fit", o.name, s)
	}
	return o.to.Clone(), nil
}

func (o reshapeCopyOp) Do(v ...G.Value) (G.Value, error) {
	if err := checkArgs(o.name, len(v), 1); err != nil {
		return nil, err
	}
	return unary(v[0], o.check,
		func(in, out []float64, _ tensor.Shape) { copy(out, in) },
		func(in, out []float32, _ tensor.Shape) { copy(out, in) })
}

func (o reshapeCopyOp) DiffWRT(int) []bool { return []bool{true} }

func (o reshapeCopyOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	if err := checkArgs(o.name, len(in), 1); err != nil {
		return nil, err
	}
	d, err := G.ApplyOp(newReshapeCopy(o.to, o.from), grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

// ---------------------------------------------------------------------------------------
// Per-channel bias.

// addBiasOp adds a per-channel bias b (C) to x (N, C, H, W). Its input adjoint is the
// incoming gradient itself, its bias adjoint the per-channel sum of the gradient.
type addBiasOp struct{ opBase }

// channelSumOp sums an (N, C, H, W) tensor over N, H and W, giving (C): the adjoint of
// addBiasOp with respect to the bias. Not differentiable itself (first order only).
type channelSumOp struct{ opBase }

// AddBias returns x + b broadcast over the batch and spatial axes; x is (N, C, H, W), b (C).
func AddBias(x, b *G.Node) (*G.Node, error) {
	if x.Shape().Dims() != 4 || b.Shape().Dims() != 1 || b.Shape()[0] != x.Shape()[1] {
		return nil, fmt.Errorf("bias %v does not fit an (N, C, H, W) input %v", b.Shape(), x.Shape())
	}
	return G.ApplyOp(addBiasOp{opBase{"AddBias"}}, x, b)
}

func (o addBiasOp) Arity() int { return 2 }
func (o addBiasOp) Type() hm.Type {
	return hm.NewFnType(tensorType(4), tensorType(1), tensorType(4))
}
func (o addBiasOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if err := checkArgs(o.name, len(in), 2); err != nil {
		return nil, err
	}
	s, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (o addBiasOp) Do(v ...G.Value) (G.Value, error) {
	if err := checkArgs(o.name, len(v), 2); err != nil {
		return nil, err
	}
	x64, x32, s, err := floats(v[0])
	if err != nil {
		return nil, err
	}
	b64, b32, bs, err := floats(v[1])
	if err != nil {
		return nil, err
	}
	if s.Dims() != 4 || bs.TotalSize() != s[1] || (x64 == nil) != (b64 == nil) {
		return nil, fmt.Errorf("AddBias: bias %v does not fit input %v", bs, s)
	}
	out := newDense(x64, s...)
	if x64 != nil {
		addBias(x64, b64, out.Float64s(), s)
	} else {
		addBias(x32, b32, out.Float32s(), s)
	}
	return out, nil
}

func addBias[T float32 | float64](x, b, out []T, s tensor.Shape) {
	n, c, p := s[0], s[1], s[2]*s[3]
	for i := 0; i < n*c; i++ {
		bv := b[i%c]
		for j, v := range x[i*p : (i+1)*p] {
			out[i*p+j] = v + bv
		}
	}
}

func (o addBiasOp) DiffWRT(int) []bool { return []bool{true, true} }

func (o addBiasOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	if err := checkArgs(o.name, len(in), 2); err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(channelSumOp{opBase{"ChannelSum"}}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{grad, db}, nil
}

func (o channelSumOp) Arity() int    { return 1 }
func (o channelSumOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(1)) }
func (o channelSumOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if err := checkArgs(o.name, len(in), 1); err != nil {
		return nil, err
	}
	s, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	return channelShape(s)
}

func channelShape(s tensor.Shape) (tensor.Shape, error) {
	if s.Dims() != 4 {
		return nil, fmt.Errorf("ChannelSum needs an (N, C, H, W) input, got %v", s)
	}
	return tensor.Shape{s[1]}, nil
}

func (o channelSumOp) Do(v ...G.Value) (G.Value, error) {
	if err := checkArgs(o.name, len(v), 1); err != nil {
		return nil, err
	}
	return unary(v[0], channelShape, channelSum[float64], channelSum[float32])
}

func channelSum[T float32 | float64](in, out []T, s tensor.Shape) {
	n, c, p := s[0], s[1], s[2]*s[3]
	for i := 0; i < n*c; i++ {
		var acc T
		for _, v := range in[i*p : (i+1)*p] {
			acc += v
		}
		out[i%c] += acc
	}
}

func (o channelSumOp) DiffWRT(int) []bool { return []bool{false} }

func (o channelSumOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("%s is not differentiable (first-order use only)", o.name)
}
