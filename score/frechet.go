package score

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Stats is the mean and covariance of a set of feature vectors: all the Frechet distance
// needs of them.
type Stats struct {
	N, Dim int
	Mean   []float64 // Dim
	Cov    []float64 // Dim x Dim, row-major, unbiased (divided by N-1)
}

// NewStats computes the statistics of n feature vectors of dim values each (row-major),
// accumulating in float64.
func NewStats(features []float32, n, dim int) (Stats, error) {
	if n < 2 || dim < 1 || len(features) < n*dim {
		return Stats{}, fmt.Errorf("score: need at least 2 feature vectors of %d values (have %d values for %d)", dim, len(features), n)
	}
	s := Stats{N: n, Dim: dim, Mean: make([]float64, dim), Cov: make([]float64, dim*dim)}
	for i := range n {
		for j, v := range features[i*dim : (i+1)*dim] {
			s.Mean[j] += float64(v)
		}
	}
	for j := range s.Mean {
		s.Mean[j] /= float64(n)
	}
	centred := mat.NewDense(n, dim, nil)
	for i := range n {
		for j, v := range features[i*dim : (i+1)*dim] {
			centred.Set(i, j, float64(v)-s.Mean[j])
		}
	}
	cov := mat.NewDense(dim, dim, s.Cov)
	cov.Mul(centred.T(), centred)
	cov.Scale(1/float64(n-1), cov)
	return s, nil
}

// FrechetDistance is the squared Frechet (2-Wasserstein) distance between the Gaussians
// with the statistics a and b:
//
//	|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2)).
//
// The trace of the matrix square root is computed without the non-symmetric product:
// (S_a S_b)^(1/2) has the eigenvalues of R = S_a^(1/2) S_b S_a^(1/2), which is symmetric
// and positive semi-definite, so tr((S_a S_b)^(1/2)) = sum_i sqrt(lambda_i(R)). Both
// eigendecompositions are symmetric ones (gonum's EigenSym); eigenvalues that rounding
// makes slightly negative count as zero.
func FrechetDistance(a, b Stats) (float64, error) {
	if a.Dim != b.Dim || a.Dim < 1 {
		return 0, fmt.Errorf("score: Frechet distance of %d- and %d-dimensional statistics", a.Dim, b.Dim)
	}
	d := a.Dim
	mean := 0.0
	for i := range d {
		diff := a.Mean[i] - b.Mean[i]
		mean += diff * diff
	}
	sa := mat.NewSymDense(d, symmetrised(a.Cov, d))
	sb := mat.NewSymDense(d, symmetrised(b.Cov, d))
	root, err := sqrtPSD(sa)
	if err != nil {
		return 0, err
	}
	var r mat.Dense
	r.Product(root, sb, root)
	var eig mat.EigenSym
	if !eig.Factorize(mat.NewSymDense(d, symmetrised(r.RawMatrix().Data, d)), false) {
		return 0, fmt.Errorf("score: eigendecomposition of the covariance product did not converge")
	}
	trRoot := 0.0
	for _, l := range eig.Values(nil) {
		trRoot += math.Sqrt(math.Max(l, 0))
	}
	fd := mean + mat.Trace(sa) + mat.Trace(sb) - 2*trRoot
	return math.Max(fd, 0), nil
}

// symmetrised returns (m + m^T)/2 of a d x d row-major matrix, removing rounding asymmetry.
func symmetrised(m []float64, d int) []float64 {
	out := make([]float64, d*d)
	for i := range d {
		for j := range d {
			out[i*d+j] = (m[i*d+j] + m[j*d+i]) / 2
		}
	}
	return out
}

// sqrtPSD is the symmetric square root V diag(sqrt(max(l, 0))) V^T of a symmetric
// positive semi-definite matrix.
func sqrtPSD(s *mat.SymDense) (*mat.Dense, error) {
	var eig mat.EigenSym
	if !eig.Factorize(s, true) {
		return nil, fmt.Errorf("score: eigendecomposition of a covariance did not converge")
	}
	var v mat.Dense
	eig.VectorsTo(&v)
	vals := eig.Values(nil)
	d := len(vals)
	scaled := mat.NewDense(d, d, nil)
	scaled.Apply(func(i, j int, x float64) float64 { return x * math.Sqrt(math.Max(vals[j], 0)) }, &v)
	var out mat.Dense
	out.Mul(scaled, v.T())
	return &out, nil
}
