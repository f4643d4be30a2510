package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Tensor is a dense row-major array with a shape.
type Tensor[T Float] struct {
	Shape []int
	Data  []T
}

// numel is the product of a shape.
func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Params is the named, ordered set of parameter tensors of one network.
type Params[T Float] struct {
	Config Config
	Names  []string
	T      map[string]*Tensor[T]
	flat   []T // the one backing array of every tensor, in Names order (see Flat)
}

// NewParams allocates zero tensors for every parameter of c.
func NewParams[T Float](c Config) *Params[T] {
	specs := c.ParamSpecs()
	total := 0
	for _, s := range specs {
		total += numel(s.Shape)
	}
	p := &Params[T]{Config: c, Names: make([]string, len(specs)), T: make(map[string]*Tensor[T], len(specs)), flat: make([]T, total)}
	off := 0
	for i, s := range specs {
		n := numel(s.Shape)
		p.Names[i] = s.Name
		p.T[s.Name] = &Tensor[T]{Shape: append([]int(nil), s.Shape...), Data: p.flat[off : off+n : off+n]}
		off += n
	}
	return p
}

// InitParams draws the PyTorch default initialisation (docs/REFERENCE.md "Energy network"):
// weights and biases uniform in +-1/sqrt(fan_in), which is what kaiming_uniform with
// a = sqrt(5) gives for Conv2d and Linear.
func InitParams[T Float](c Config, rng *rand.Rand) *Params[T] {
	p := NewParams[T](c)
	fanIn := 0
	for _, name := range p.Names {
		t := p.T[name]
		if len(t.Shape) > 1 { // a weight: its fan-in also bounds the bias that follows it
			fanIn = numel(t.Shape[1:])
		}
		bound := 1 / math.Sqrt(float64(fanIn))
		for i := range t.Data {
			t.Data[i] = T((2*rng.Float64() - 1) * bound)
		}
	}
	return p
}

// Count is the number of scalar parameters, the energy offset included.
func (p *Params[T]) Count() int {
	n := 0
	for _, t := range p.T {
		n += len(t.Data)
	}
	return n
}

// Clone returns a deep copy: the way to hand weights to another goroutine.
func (p *Params[T]) Clone() *Params[T] {
	q := NewParams[T](p.Config)
	q.CopyFrom(p)
	return q
}

// Flat is every value in one slice, the tensors back to back in Names order (the order of
// Config.ParamSpecs), sharing memory with the tensors: what one copy to a device, one
// optimiser kernel or one all-reduce works on. Params made by NewParams (and Clone,
// Convert, InitParams, ParamsFromTensors) have it; it is nil for one put together by hand.
func (p *Params[T]) Flat() []T { return p.flat }

// CopyFrom overwrites p's values with q's; both must have the same configuration.
func (p *Params[T]) CopyFrom(q *Params[T]) {
	for _, n := range p.Names {
		copy(p.T[n].Data, q.T[n].Data)
	}
}

// Zero sets every value to 0 (used for gradient accumulators).
func (p *Params[T]) Zero() {
	for _, t := range p.T {
		clear(t.Data)
	}
}

// Get returns the tensor of a parameter by name, or an error naming it.
func (p *Params[T]) Get(name string) (*Tensor[T], error) {
	t, ok := p.T[name]
	if !ok {
		return nil, fmt.Errorf("no parameter %q in a %s network", name, p.Config.Preset)
	}
	return t, nil
}

// Convert copies parameters into another element type (float32 weights into a float64
// network for gradient checks, and back).
func Convert[D, S Float](p *Params[S]) *Params[D] {
	q := NewParams[D](p.Config)
	for _, n := range p.Names {
		src, dst := p.T[n].Data, q.T[n].Data
		for i, v := range src {
			dst[i] = D(v)
		}
	}
	return q
}

// CheckFinite returns an error naming the first tensor that holds a NaN or an infinity.
func (p *Params[T]) CheckFinite() error {
	for _, n := range p.Names {
		for i, v := range p.T[n].Data {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("tensor %s holds %v at index %d", n, f, i)
			}
		}
	}
	return nil
}
