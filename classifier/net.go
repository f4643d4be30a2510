// Package classifier is the small convolutional image classifier that mdsm trains itself
// and that the sample-quality score (package score) reads: its class probabilities give the
// class histogram of a set of samples, and its penultimate activations are the features
// whose Frechet distance to those of the test set is the score (the "FID with a domain
// classifier" used for MNIST in the literature). Trained weights for MNIST and
// Fashion-MNIST are compiled into the binary (Builtin); TrainRecorded reproduces them.
//
// The network, for 28x28 grey images (channel-major activations [C][N][H][W] inside):
//
//	conv3x3(1->W1) ReLU, 2x2 mean pool        28 -> 14
//	conv3x3(W1->W2) ReLU, 2x2 mean pool       14 -> 7
//	conv3x3(W2->W3) ReLU                      7
//	flatten, linear(W3*49 -> Hidden) ReLU      the features
//	linear(Hidden -> Classes)                  the logits
//
// The convolutions and pools are the energy network's own kernels (package nn), the linear
// layers plain GEMMs, so a step is as deterministic as the energy trainer's: bit for bit
// the same on any thread count at a given kernel level.
package classifier

import (
	"fmt"
	"math"
	"math/rand/v2"

	"mdsm/internal/gemm"
	"mdsm/nn"
)

// Side is the image side the classifier reads: images of other sizes are brought to
// 28x28 first (package score).
const Side = 28

// Config is the shape of a classifier.
type Config struct {
	Widths  [3]int `json:"widths"`  // channels of the three convolutions
	Hidden  int    `json:"hidden"`  // features (the penultimate layer)
	Classes int    `json:"classes"` // outputs
}

// DefaultConfig is the network the built-in classifiers use: chosen as the smallest of
// those measured that reaches 99% on MNIST and 90% on Fashion-MNIST in a few epochs on
// two CPU cores (docs/SCORE.md).
func DefaultConfig() Config { return Config{Widths: [3]int{16, 32, 32}, Hidden: 128, Classes: 10} }

// Validate reports an unusable shape.
func (c Config) Validate() error {
	for i, w := range c.Widths {
		if w < 1 || w > 1024 {
			return fmt.Errorf("classifier: width %d of convolution %d must be in 1..1024", w, i+1)
		}
	}
	if c.Hidden < 1 || c.Hidden > 4096 || c.Classes < 2 || c.Classes > 1000 {
		return fmt.Errorf("classifier: hidden %d must be in 1..4096 and classes %d in 2..1000", c.Hidden, c.Classes)
	}
	return nil
}

// flat is the length of the flattened last feature map.
func (c Config) flat() int { return c.Widths[2] * 7 * 7 }

// ParamSpec names one parameter tensor and its shape (PyTorch's layout and naming).
type ParamSpec struct {
	Name  string
	Shape []int
}

// ParamSpecs lists the parameters in order.
func (c Config) ParamSpecs() []ParamSpec {
	w := c.Widths
	return []ParamSpec{
		{"conv1.weight", []int{w[0], 1, 3, 3}}, {"conv1.bias", []int{w[0]}},
		{"conv2.weight", []int{w[1], w[0], 3, 3}}, {"conv2.bias", []int{w[1]}},
		{"conv3.weight", []int{w[2], w[1], 3, 3}}, {"conv3.bias", []int{w[2]}},
		{"fc1.weight", []int{c.Hidden, c.flat()}}, {"fc1.bias", []int{c.Hidden}},
		{"fc2.weight", []int{c.Classes, c.Hidden}}, {"fc2.bias", []int{c.Classes}},
	}
}

// Params is the classifier's named parameter tensors, in ParamSpecs order.
type Params[T nn.Float] struct {
	Config Config
	Names  []string
	T      map[string][]T
}

// NewParams allocates zero parameters.
func NewParams[T nn.Float](c Config) *Params[T] {
	p := &Params[T]{Config: c, T: map[string][]T{}}
	for _, s := range c.ParamSpecs() {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		p.Names = append(p.Names, s.Name)
		p.T[s.Name] = make([]T, n)
	}
	return p
}

// InitParams draws He-uniform weights (bound sqrt(6/fan_in), right for ReLU) and zero
// biases from rng.
func InitParams[T nn.Float](c Config, rng *rand.Rand) *Params[T] {
	p := NewParams[T](c)
	for _, s := range c.ParamSpecs() {
		if len(s.Shape) == 1 {
			continue
		}
		fanIn := 1
		for _, d := range s.Shape[1:] {
			fanIn *= d
		}
		bound := math.Sqrt(6 / float64(fanIn))
		for i := range p.T[s.Name] {
			p.T[s.Name][i] = T((2*rng.Float64() - 1) * bound)
		}
	}
	return p
}

// Count is the number of scalar parameters.
func (p *Params[T]) Count() int {
	n := 0
	for _, t := range p.T {
		n += len(t)
	}
	return n
}

// Zero sets every value to 0 (gradient accumulators).
func (p *Params[T]) Zero() {
	for _, t := range p.T {
		clear(t)
	}
}

// Net evaluates a classifier on batches and, given gradient accumulators, trains it. It
// keeps its buffers between calls (sized for the largest batch seen) and reads its
// Params live. Not safe for concurrent use.
type Net[T nn.Float] struct {
	cfg              Config
	p, g             *Params[T]
	conv             [3]*nn.Conv3[T]
	n, cap           int
	x                []T // the input batch, [1][N][28][28]
	a1, p1, a2, p2   []T // conv1 and conv2 outputs after ReLU, and pooled
	a3, f            []T // conv3 after ReLU [W3][N][49], and flattened [N][W3*49]
	h, logits        []T // features [N][Hidden] and logits [N][Classes]
	gbig, gsmall, gf []T // adjoint scratch
	gh, gl           []T
}

// NewNet builds a network over p. grads, if not nil, receives the weight gradients of
// LossGrad (accumulated: zero it between steps).
func NewNet[T nn.Float](p, grads *Params[T]) *Net[T] {
	c := p.Config
	m := &Net[T]{cfg: c, p: p, g: grads}
	cin := 1
	for i := range 3 {
		name := fmt.Sprintf("conv%d.", i+1)
		var gw, gb []T
		if grads != nil {
			gw, gb = grads.T[name+"weight"], grads.T[name+"bias"]
		}
		m.conv[i] = nn.NewConv3(cin, c.Widths[i], p.T[name+"weight"], p.T[name+"bias"], gw, gb)
		cin = c.Widths[i]
	}
	return m
}

// Config is the network's shape.
func (m *Net[T]) Config() Config { return m.cfg }

func (m *Net[T]) alloc(n int) {
	m.n = n
	if n <= m.cap {
		return
	}
	c := m.cfg
	w := c.Widths
	m.cap = n
	m.x = make([]T, n*Side*Side)
	m.a1 = make([]T, w[0]*n*28*28)
	m.p1 = make([]T, w[0]*n*14*14)
	m.a2 = make([]T, w[1]*n*14*14)
	m.p2 = make([]T, w[1]*n*7*7)
	m.a3 = make([]T, w[2]*n*49)
	m.f = make([]T, n*c.flat())
	m.h = make([]T, n*c.Hidden)
	m.logits = make([]T, n*c.Classes)
	m.gbig = make([]T, max(w[0]*28*28, w[1]*14*14, w[2]*49)*n)
	m.gsmall = make([]T, max(w[0]*14*14, w[1]*7*7)*n)
	m.gf = make([]T, n*c.flat())
	m.gh = make([]T, n*c.Hidden)
	m.gl = make([]T, n*c.Classes)
}

// Forward runs n images (28x28 grey, NCHW, len n*784) through the network. Afterwards
// Features and Logits hold the results for those n images.
func (m *Net[T]) Forward(x []T, n int) {
	if len(x) < n*Side*Side {
		panic(fmt.Sprintf("classifier: %d pixels for %d images of %dx%d", len(x), n, Side, Side))
	}
	m.alloc(n)
	c := m.cfg
	w := c.Widths
	copy(m.x, x[:n*Side*Side]) // one channel: NCHW is channel-major already
	m.conv[0].Forward(m.x, n, 28, m.a1)
	relu(m.a1[:w[0]*n*784])
	nn.MeanPool2(m.a1, w[0]*n, 28, m.p1)
	m.conv[1].Forward(m.p1, n, 14, m.a2[:w[1]*n*196])
	relu(m.a2[:w[1]*n*196])
	nn.MeanPool2(m.a2, w[1]*n, 14, m.p2)
	m.conv[2].Forward(m.p2, n, 7, m.a3[:w[2]*n*49])
	relu(m.a3[:w[2]*n*49])
	// flatten per image in PyTorch's order: f[b][ch*49 + i] = a3[ch][b][i]
	fl := c.flat()
	for ch := range w[2] {
		for b := range n {
			copy(m.f[b*fl+ch*49:b*fl+ch*49+49], m.a3[(ch*n+b)*49:(ch*n+b+1)*49])
		}
	}
	linear(m.f, n, fl, m.p.T["fc1.weight"], m.p.T["fc1.bias"], c.Hidden, m.h)
	relu(m.h[:n*c.Hidden])
	linear(m.h, n, c.Hidden, m.p.T["fc2.weight"], m.p.T["fc2.bias"], c.Classes, m.logits)
}

// Features returns the penultimate activations of the last Forward: n rows of Hidden.
func (m *Net[T]) Features() []T { return m.h[:m.n*m.cfg.Hidden] }

// Logits returns the outputs of the last Forward: n rows of Classes.
func (m *Net[T]) Logits() []T { return m.logits[:m.n*m.cfg.Classes] }

// linear writes out[n][nout] = in[n][nin] * w^T + b (w is [nout][nin]).
func linear[T nn.Float](in []T, n, nin int, w, b []T, nout int, out []T) {
	for i := range n {
		copy(out[i*nout:(i+1)*nout], b)
	}
	gemm.Gemm(false, true, n, nout, nin, 1, in, nin, w, nin, 1, out, nout)
}

func relu[T nn.Float](a []T) {
	for i, v := range a {
		if v < 0 {
			a[i] = 0
		}
	}
}

// reluBackward zeroes the adjoints g where the ReLU output a is 0.
func reluBackward[T nn.Float](a, g []T) {
	g = g[:len(a)]
	for i, v := range a {
		if v <= 0 {
			g[i] = 0
		}
	}
}

// LossGrad runs n labelled images forward, returns the mean cross-entropy of their
// labels and adds its gradient to the Net's gradient accumulators.
func (m *Net[T]) LossGrad(x []T, labels []int, n int) float64 {
	if m.g == nil {
		panic("classifier: LossGrad on a Net without gradient accumulators")
	}
	c := m.cfg
	w := c.Widths
	for i, l := range labels[:n] {
		if l < 0 || l >= c.Classes {
			panic(fmt.Sprintf("classifier: label %d of image %d is not a class 0..%d", l, i, c.Classes-1))
		}
	}
	m.Forward(x, n)
	// dL/dlogits = (softmax - onehot) / n
	loss := 0.0
	for i := range n {
		row := m.logits[i*c.Classes : (i+1)*c.Classes]
		gl := m.gl[i*c.Classes : (i+1)*c.Classes]
		lse := logSumExp(row)
		loss += lse - float64(row[labels[i]])
		for k, v := range row {
			gl[k] = T(math.Exp(float64(v)-lse) / float64(n))
		}
		gl[labels[i]] -= T(1 / float64(n))
	}
	g := m.g.T
	// fc2
	linearBackward(m.gl, n, c.Classes, m.h, c.Hidden, m.p.T["fc2.weight"], g["fc2.weight"], g["fc2.bias"], m.gh)
	reluBackward(m.h[:n*c.Hidden], m.gh)
	// fc1
	fl := c.flat()
	linearBackward(m.gh, n, c.Hidden, m.f, fl, m.p.T["fc1.weight"], g["fc1.weight"], g["fc1.bias"], m.gf)
	// unflatten into [W3][N][49], then through ReLU and conv3
	ga3 := m.gbig[:w[2]*n*49]
	for ch := range w[2] {
		for b := range n {
			copy(ga3[(ch*n+b)*49:(ch*n+b+1)*49], m.gf[b*fl+ch*49:b*fl+ch*49+49])
		}
	}
	reluBackward(m.a3[:w[2]*n*49], ga3)
	m.conv[2].BackwardWeights(m.p2, ga3, n, 7)
	gp2 := m.gsmall[:w[1]*n*49]
	m.conv[2].BackwardData(ga3, n, 7, gp2)
	// pool2, ReLU, conv2
	ga2 := m.gbig[:w[1]*n*196]
	nn.MeanUnpool2(gp2, w[1]*n, 14, ga2, false)
	reluBackward(m.a2[:w[1]*n*196], ga2)
	m.conv[1].BackwardWeights(m.p1, ga2, n, 14)
	gp1 := m.gsmall[:w[0]*n*196]
	m.conv[1].BackwardData(ga2, n, 14, gp1)
	// pool1, ReLU, conv1 (no input adjoint needed)
	ga1 := m.gbig[:w[0]*n*784]
	nn.MeanUnpool2(gp1, w[0]*n, 28, ga1, false)
	reluBackward(m.a1[:w[0]*n*784], ga1)
	m.conv[0].BackwardWeights(m.x, ga1, n, 28)
	return loss / float64(n)
}

// linearBackward, for out = in * w^T + b: adds gout^T in to gw and the column sums of gout
// to gb, and writes gin = gout * w.
func linearBackward[T nn.Float](gout []T, n, nout int, in []T, nin int, w, gw, gb, gin []T) {
	gemm.Gemm(true, false, nout, nin, n, 1, gout, nout, in, nin, 1, gw, nin)
	for i := range n {
		for k, v := range gout[i*nout : (i+1)*nout] {
			gb[k] += v
		}
	}
	gemm.Gemm(false, false, n, nin, nout, 1, gout, nout, w, nin, 0, gin, nin)
}

// logSumExp is log(sum exp(v)), computed stably in float64.
func logSumExp[T nn.Float](v []T) float64 {
	mx := math.Inf(-1)
	for _, x := range v {
		mx = max(mx, float64(x))
	}
	s := 0.0
	for _, x := range v {
		s += math.Exp(float64(x) - mx)
	}
	return mx + math.Log(s)
}

// Softmax writes the class probabilities of one row of logits into p.
func Softmax[T nn.Float](logits []T, p []float64) {
	lse := logSumExp(logits)
	for k, v := range logits {
		p[k] = math.Exp(float64(v) - lse)
	}
}
