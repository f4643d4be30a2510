package nn

import (
	"bytes"
	"fmt"
)

// The engine's layers, exported for other networks built from them (the small image
// classifier of package classifier, which the sample-quality score uses). They work on
// channel-major activations [C][N][S][S], as inside Model, and run on the same kernels: a
// float32 3x3 convolution packs its im2col panels straight from the activations.

// Conv3 is a 3x3 "same" convolution with a bias, over weights and gradient accumulators
// owned by the caller: W [cout][cin*9] (PyTorch's [cout][cin][3][3] flattened), B [cout],
// and, for training, GW and GB of the same shapes. Not safe for concurrent use.
type Conv3[T Float] struct {
	c   conv[T]
	col []T // im2col scratch of the float64 path (float32 needs none)
}

// NewConv3 wraps the given weights; gw and gb may be nil for a model that does not train.
// It panics when a slice has the wrong length (a programming error).
func NewConv3[T Float](cin, cout int, w, b, gw, gb []T) *Conv3[T] {
	if len(w) != cout*cin*9 || len(b) != cout || (gw != nil && len(gw) != len(w)) || (gb != nil && len(gb) != len(b)) {
		panic("nn.NewConv3: weight, bias or gradient slice has the wrong length")
	}
	return &Conv3[T]{c: conv[T]{w: w, b: b, gw: gw, gb: gb, cin: cin, cout: cout, k: 3, flip: &flipScratch[T]{}}}
}

// scratch returns the im2col buffer the float64 path needs for a batch.
func (l *Conv3[T]) scratch(n, s int) []T {
	if isFloat32(l.c.w) {
		return nil
	}
	if need := l.c.cin * 9 * n * s * s; len(l.col) < need {
		l.col = make([]T, need)
	}
	return l.col
}

// Forward writes out [cout][n][s][s] = conv(in [cin][n][s][s]) + bias.
func (l *Conv3[T]) Forward(in []T, n, s int, out []T) {
	l.c.forward(in, n, s, out, l.scratch(n, s), true)
}

// BackwardData writes the input adjoint gin [cin][n][s][s] from the output adjoint gout.
func (l *Conv3[T]) BackwardData(gout []T, n, s int, gin []T) {
	l.c.backwardData(gout, n, s, gin, l.scratch(n, s))
}

// BackwardWeights adds the weight and bias gradients of the output adjoint gout (for the
// input in) to GW and GB.
func (l *Conv3[T]) BackwardWeights(in, gout []T, n, s int) {
	l.c.backwardWeights(in, gout, nil, nil, n, s, l.scratch(n, s))
}

// MeanPool2 writes the 2x2 mean pool of planes images of side s (s even) into out (side
// s/2); planes is channels times batch.
func MeanPool2[T Float](in []T, planes, s int, out []T) { meanPool(in, planes, s, out) }

// MeanUnpool2 is the adjoint of MeanPool2: it writes (or, if accumulate, adds) a quarter of
// every output adjoint to the four input pixels of its window.
func MeanUnpool2[T Float](gout []T, planes, s int, gin []T, accumulate bool) {
	meanUnpool(gout, planes, s, gin, accumulate)
}

// DecodeSafetensors parses a whole safetensors file held in memory (for example one
// compiled into the binary); name is used in errors.
func DecodeSafetensors(b []byte, name string) (map[string]*Tensor[float32], map[string]string, error) {
	ts, meta, err := decodeSafetensors(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	return ts, meta, nil
}
