package nn

import (
	"fmt"
	"os"
	"strings"

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

// winogradTile is the output tile (2 or 4) layer c runs Winograd with under algorithm a, or 0
// for the direct convolution. size is the side of the layer's images.
func winogradTile(a ConvAlgorithm, f32 bool, cin, cout, size int) int {
	switch a {
	case ConvWinograd2:
		return 2
	case ConvWinograd4:
		return 4
	case ConvAuto:
		if f32 {
			return autoTile(cin, cout, size)
		}
	}
	return 0
}

// autoTile is the measured per-layer choice for float32 (BENCHMARKS.md, "Convolution
// algorithms"): Winograd for layers with enough channels, direct for the stem.
func autoTile(cin, cout, size int) int {
	if min(cin, cout) < 8 {
		return 0
	}
	return 2
}

// SetConvAlgorithm makes the model run its 3x3 convolutions with a (ConvAuto: the per-layer
// choice). Results differ between algorithms in rounding only.
func (m *Model[T]) SetConvAlgorithm(a ConvAlgorithm) {
	m.convAlgo = a
	f32 := isFloat32(m.stem.w)
	set := func(c *conv[T], size int) {
		c.tile = 0
		if c.k == 3 {
			c.tile = winogradTile(a, f32, c.cin, c.cout, size)
		}
		c.wc = &m.wino
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
		tile := winogradTile(defaultConv, true, l.cin, l.cout, l.size)
		if tile == 0 {
			continue
		}
		for _, d := range [2][2]int{{l.cout, l.cin}, {l.cin, l.cout}} {
			most = max(most, winograd.Scratch(tile, d[0], d[1], n, l.size, 4))
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
