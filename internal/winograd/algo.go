// Package winograd computes 3x3 "same" convolutions by Winograd's minimal filtering
// algorithm F(m x m, 3 x 3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016), for m = 2 and m = 4.
//
// A convolution of an s x s image is cut into output tiles of m x m pixels; the input tile
// behind one output tile is alpha x alpha (alpha = m + 2, overlapping its neighbours by 2).
// With the transform matrices Bt (alpha x alpha), G (alpha x 3) and At (m x alpha),
//
//	Y = At [ (G g Gt) ⊙ (Bt d B) ] A
//
// is the m x m output tile of the correlation of the input tile d with the kernel g. Summed
// over input channels, the alpha^2 element-wise products become alpha^2 independent matrix
// products over the channels,
//
//	M[xi] = U[xi] V[xi],  U[xi] (cout x cin) = (G g Gt)[xi],  V[xi] (cin x tiles) = (Bt d B)[xi],
//
// which run on internal/gemm. F(2,3) needs 16 multiplies per 4 outputs (9 per output
// direct: 2.25x fewer), F(4,3) 36 per 16 (4x fewer), at the price of the transforms, which
// are additions (and, for F(4,3), multiplications by small constants) linear in the data.
//
// The weight gradient is the adjoint of the same algorithm: with Mbar = A Ybar At (the
// output adjoint carried back through the output transform),
//
//	gbar = Gt [ sum over tiles of Mbar ⊙ (Bt d B) ] G,
//
// again alpha^2 matrix products Ubar[xi] = Mbar[xi] V[xi]^T, now over the tiles.
//
// Layouts. Images are channel-major planes [c][n][s][s] (package nn's layout), cut into
// T = ceil(s/m) tiles per side. The transforms process the same tile of lanes (8)
// consecutive images together (transform.go), so the transformed data of a channel, a row
// of [alpha^2][channels][columns], hold the tiles image group by image group, tile row by
// tile row, tile by tile, and image by image: column ((g*T + ty)*T + tx)*8 + l is tile
// (ty, tx) of image 8g+l (the missing images of a last, partial group are zeros).
//
// Everything is generic over float32 and float64: the float64 instance is what the
// finite-difference gradient tests check.
package winograd

// Float is the element type: float32 for training, float64 for gradient tests.
type Float interface{ ~float32 | ~float64 }

//go:generate go run gen.go

// algo is one of the two algorithms: its output tile m and input tile alpha = m + 2 (the
// transforms themselves are the programs of ops.go and their kernels).
type algo struct {
	m, alpha int
	// kron is G (x) G, alpha^2 x 9: U[xi = i*alpha+j] = sum_k kron[xi][k] g[k] is the weight
	// transform (G g Gt)[i][j] of a 3x3 kernel g (k = ky*3+kx); kronRot is the same for the
	// kernel rotated by 180 degrees (column k read from g[8-k]).
	kron, kronRot []float64
}

// f2 is F(2x2, 3x3), interpolation points 0, 1, -1, infinity:
//
//	Bt = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//	G  = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//	At = [1 1 1 0; 0 1 -1 -1]
//
// Every coefficient is 0, +-1 or +-1/2, so its data transforms are exact.
var f2 = newAlgo(2, [][3]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}})

// f4 is F(4x4, 3x3), points 0, 1, -1, 2, -2, infinity (Lavin and Gray's matrices):
//
//	Bt = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//	G  = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//	At = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
var f4 = newAlgo(4, [][3]float64{
	{1.0 / 4, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
	{1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}})

// newAlgo builds F(m x m, 3 x 3) from its G.
func newAlgo(m int, g [][3]float64) *algo {
	al := m + 2
	a := &algo{m: m, alpha: al, kron: make([]float64, al*al*9), kronRot: make([]float64, al*al*9)}
	for i := 0; i < al; i++ {
		for j := 0; j < al; j++ {
			for k := 0; k < 9; k++ {
				v := g[i][k/3] * g[j][k%3]
				a.kron[(i*al+j)*9+k] = v
				a.kronRot[(i*al+j)*9+8-k] = v
			}
		}
	}
	return a
}

// algoFor returns the algorithm with output tile m (2 or 4).
func algoFor(m int) *algo {
	switch m {
	case 2:
		return f2
	case 4:
		return f4
	}
	panic("winograd: output tile must be 2 or 4")
}

// Geom is the tiling of n images of side s by m x m output tiles.
type Geom struct {
	M, S, N int
	T       int // tiles per side, ceil(S/M)
}

// NewGeom returns the tiling of n images of side s by tiles of m x m outputs (m = 2 or 4).
func NewGeom(m, s, n int) Geom {
	algoFor(m)
	return Geom{M: m, S: s, N: n, T: (s + m - 1) / m}
}

// Alpha is the side of an input tile, m + 2.
func (g Geom) Alpha() int { return g.M + 2 }

// Points is the number of transformed products, alpha^2.
func (g Geom) Points() int { return (g.M + 2) * (g.M + 2) }

// TileRows is the number of tile rows over all images, n*T.
func (g Geom) TileRows() int { return g.N * g.T }

// Tiles is the number of tiles over all images, n*T*T.
func (g Geom) Tiles() int { return g.N * g.T * g.T }
