// Package philox is mdsm's counter-based Gaussian noise: Philox4x32-10 (Salmon, Moraes,
// Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011) turned into
// standard normal draws by the Box-Muller transform. A draw is a pure function of a key
// (from the seed), a draw number and the element's index, so any element of any draw can
// be made by any thread in any order: the GPU's Langevin kernels (gpu/kernels.cu,
// philox_normal4) make the noise of a step where they use it, and the CPU sampler makes
// the same numbers here. The 32-bit words are the same bit for bit on both; the normals
// are computed in float64 and rounded to float32, and agree to the last bit except where
// the two libraries' log or sin/cos round the float64 value across a float32 rounding
// boundary (at most one unit in the last place; docs/DESIGN.md decision 23).
package philox

import "math"

// The Philox4x32 round constants: multipliers and the Weyl key increments.
const (
	m0 = 0xD2511F53
	m1 = 0xCD9E8D57
	w0 = 0x9E3779B9
	w1 = 0xBB67AE85
)

// Key is the generator's 64-bit key.
type Key [2]uint32

// KeyOf derives a key from a seed. Nearby seeds give unrelated keys (SplitMix64's
// finaliser), so seeds 1, 2, 3 are as good as random ones.
func KeyOf(seed uint64) Key {
	z := seed + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return Key{uint32(z), uint32(z >> 32)}
}

// Block is Philox4x32 with 10 rounds: the four words of counter ctr under key k.
func Block(ctr [4]uint32, k Key) [4]uint32 {
	c0, c1, c2, c3 := ctr[0], ctr[1], ctr[2], ctr[3]
	k0, k1 := k[0], k[1]
	for r := 0; r < 10; r++ {
		if r > 0 {
			k0 += w0
			k1 += w1
		}
		p0 := uint64(m0) * uint64(c0)
		p1 := uint64(m1) * uint64(c2)
		c0, c1, c2, c3 = uint32(p1>>32)^c1^k0, uint32(p1), uint32(p0>>32)^c3^k1, uint32(p0)
	}
	return [4]uint32{c0, c1, c2, c3}
}

// Normal4 is elements 4b..4b+3 of draw d: Box-Muller on the words of counter
// (b, d) (low and high halves of each): words 0, 1 give the first pair and words 2, 3 the
// second, u1 = (w + 1)/2^32 in (0, 1], u2 = w/2^32 in [0, 1),
// z = sqrt(-2 ln u1) (cos 2 pi u2, sin 2 pi u2).
func Normal4(k Key, d, b uint64) [4]float32 {
	w := Block([4]uint32{uint32(b), uint32(b >> 32), uint32(d), uint32(d >> 32)}, k)
	var z [4]float32
	for p := 0; p < 2; p++ {
		u1 := (float64(w[2*p]) + 1) * (1.0 / (1 << 32))
		u2 := float64(w[2*p+1]) * (1.0 / (1 << 32))
		r := math.Sqrt(-2 * math.Log(u1))
		s, c := math.Sincos(2 * math.Pi * u2)
		z[2*p] = float32(r * c)
		z[2*p+1] = float32(r * s)
	}
	return z
}

// Normals fills z with elements 0..len(z)-1 of draw d: element i is lane i%4 of
// Normal4(k, d, i/4).
func Normals(k Key, d uint64, z []float32) {
	for b := 0; 4*b < len(z); b++ {
		v := Normal4(k, d, uint64(b))
		copy(z[4*b:], v[:])
	}
}
