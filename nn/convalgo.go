package nn

import (
	"fmt"
	"os"
	"strings"

	"mdsm/internal/isa"
	"mdsm/internal/winograd"
)

// ConvAlgorithm selects how a model runs its 3x3 convolutions (every pass: forward, data
// adjoint, weight gradient and their tangent twins).
type ConvAlgorithm int

const (
	// ConvAuto picks per layer: Winograd where it measured faster, direct elsewhere
	// (float32); direct for float64, the reference the gradient tests compare against.
	ConvAuto ConvAlgorithm = iota
	// ConvDirect is the im2col GEMM: 9 multiplies per output per input channel.
	ConvDirect
	// ConvWinograd2 is Winograd's F(2x2, 3x3): 4 multiplies per output per input channel.
	ConvWinograd2
	// ConvWinograd4 is Winograd's F(4x4, 3x3): 2.25 multiplies per output per input channel.
	ConvWinograd4
)

var convNames = [...]string{ConvAuto: "auto", ConvDirect: "direct", ConvWinograd2: "winograd2", ConvWinograd4: "winograd4"}

// String returns the algorithm's name as MDSM_CONV spells it.
func (a ConvAlgorithm) String() string {
	if a < 0 || int(a) >= len(convNames) {
		return fmt.Sprintf("nn.ConvAlgorithm(%d)", int(a))
	}
	return convNames[a]
}

// ParseConvAlgorithm reads an algorithm name (auto, direct, winograd2, winograd4).
func ParseConvAlgorithm(s string) (ConvAlgorithm, error) {
	for a, n := range convNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return ConvAlgorithm(a), nil
		}
	}
	return ConvAuto, fmt.Errorf("unknown convolution algorithm %q: want one of auto, direct, winograd2, winograd4", s)
}

// ConvEnvVar names the environment variable that sets the algorithm of every new model
// (for example MDSM_CONV=direct to compare a run with the direct convolutions).
const ConvEnvVar = "MDSM_CONV"

var (
	defaultConv ConvAlgorithm
	convEnvErr  error
)

func init() {
	if s, ok := os.LookupEnv(ConvEnvVar); ok && s != "" {
		a, err := ParseConvAlgorithm(s)
		if err != nil {
			convEnvErr = fmt.Errorf("%s: %w", ConvEnvVar, err)
		}
		defaultConv = a
	}
}

// ConvEnvErr reports a malformed MDSM_CONV value (nil when it is unset or valid).
func ConvEnvErr() error { return convEnvErr }

// winogradTiles returns the output tiles (2 or 4; 0 for the direct convolution) a 3x3 layer
// from cin to cout channels on images of side size runs under algorithm a: fwd for the
// forward and data-adjoint passes, grad for the weight gradient.
func winogradTiles(a ConvAlgorithm, f32 bool, cin, cout, size int) (fwd, grad int) {
	switch a {
	case ConvWinograd2:
		return 2, 2
	case ConvWinograd4:
		return 4, 4
	case ConvAuto:
		if f32 {
			return autoTiles(cin, cout, size)
		}
	}
	return 0, 0
}

// autoTiles is the measured per-layer choice for float32 (BenchmarkConvLayers: one core,
// least CPU time of two runs; BENCHMARKS.md "Convolution algorithms"), by the channel
// counts, the image side and the instruction-set level. With the data transforms run on
// 8 images at once (internal/winograd), F(4,3) is the fastest in every pass of every layer
// of the presets from 7x7 pixels and 16 channels, against the direct convolution
// (AVX2, AVX-512): forward and data adjoint 2.5x, 1.9x at 14x14 from 32 to 32 channels,
// 2.8x, 2.0x at 28x28 16 to 16, 1.6x, 1.3x at 8x8 256 to 512; weight gradient 1.4x, 1.1x at
// 14x14 32 to 32, 1.8x, 1.3x at 7x7 64 to 64, 2.3x, 1.5x at 32x32 64 to 128. The
// exceptions:
//
//   - below 16 channels (the stem, 1-4 input channels) the direct convolution;
//   - on images under 7 pixels (4x4 at 512 channels) F(4,3)'s one tile per image leaves its
//     products too few columns: F(2,3), 1.3x, 1.0x faster than direct forward, 1.7x, 1.3x
//     for the weight gradient (F(4,3) is 10% faster there on AVX2, but its transformed
//     weights take 2.25x the memory: 38 MiB for paper-mnist's 512x512 layers);
//   - the AVX-512 weight gradient below 32 channels stays direct: its products, as wide
//     as the input channels, fill a third of the 48-wide kernel (28x28 16 to 16: direct
//     4.3 ms, F(4,3) 4.5 ms).
func autoTiles(cin, cout, size int) (fwd, grad int) {
	ch := min(cin, cout)
	switch {
	case ch < 16:
		return 0, 0
	case size < 7:
		return 2, 2
	}
	fwd, grad = 4, 4
	if isa.Active() >= isa.AVX512 && ch < 32 {
		grad = 0
	}
	return fwd, grad
}

// SetConvAlgorithm makes the model run its 3x3 convolutions with a (ConvAuto: the per-layer
// choice). Results differ between algorithms in rounding only.
func (m *Model[T]) SetConvAlgorithm(a ConvAlgorithm) {
	m.convAlgo = a
	f32 := isFloat32(m.stem.w)
	m.flip.size = 0
	set := func(c *conv[T], size int) {
		c.tile, c.tileW = 0, 0
		if c.k == 3 {
			c.tile, c.tileW = winogradTiles(a, f32, c.cin, c.cout, size)
			if c.tile == 0 {
				m.flip.size = max(m.flip.size, len(c.w))
			}
		}
		c.wc, c.flip = &m.wino, &m.flip
	}
	set(&m.stem, m.cfg.ImageSize)
	for _, b := range m.blocks {
		set(&b.c1, b.spec.size)
		set(&b.c2, b.spec.size)
		set(&b.skip, b.spec.size)
	}
}

// ConvAlgorithm reports the algorithm the model was set to.
func (m *Model[T]) ConvAlgorithm() ConvAlgorithm { return m.convAlgo }

// ConvScratchBytes is the scratch, in bytes, of the Winograd convolutions of a float32
// model of this configuration at batch n under the default algorithm (MDSM_CONV or the
// per-layer choice): about the largest layer's (winograd.Scratch).
func (c Config) ConvScratchBytes(n int) int64 {
	most := 0
	for _, l := range c.convLayers() {
		fwd, grad := winogradTiles(defaultConv, true, l.cin, l.cout, l.size)
		if fwd != 0 {
			for _, d := range [2][2]int{{l.cout, l.cin}, {l.cin, l.cout}} {
				most = max(most, winograd.Scratch(fwd, d[0], d[1], n, l.size, 4, false))
			}
		}
		if grad != 0 {
			most = max(most, winograd.Scratch(grad, l.cout, l.cin, n, l.size, 4, true))
		}
	}
	return 4 * int64(most)
}

// convLayer is one 3x3 convolution of the network: its channels and image side.
type convLayer struct{ cin, cout, size int }

// convLayers lists the 3x3 convolutions: the stem and both of every block.
func (c Config) convLayers() []convLayer {
	ls := []convLayer{{c.InChannels, c.Filters, c.ImageSize}}
	for _, b := range c.blocks() {
		ls = append(ls, convLayer{b.cin, b.cin, b.size}, convLayer{b.cin, b.cout, b.size})
	}
	return ls
}
