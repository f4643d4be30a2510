package score

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"mdsm/classifier"
	"mdsm/data"
)

func builtin(t *testing.T, name string) *Scorer {
	t.Helper()
	c, err := classifier.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	return New(c)
}

func embedded(t *testing.T, split string) *data.Dataset {
	t.Helper()
	ds, err := data.LoadWith(data.Embedded, split, "", data.Options{Size: classifier.Side})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// fullTestSet loads the official test set of a dataset from ../shared/datasets, or skips.
func fullTestSet(t *testing.T, name string) *data.Dataset {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "datasets")
	if d := os.Getenv("MDSM_TEST_DATASETS"); d != "" {
		dir = d
	}
	if _, err := os.Stat(filepath.Join(dir, name, "t10k-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("real %s not found in %s: this test needs the official test set", name, dir)
	}
	ds, err := data.LoadWith(name, "test", dir, data.Options{Size: classifier.Side})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// gaussianExpectedFD is the expected Frechet distance at N of a perfect model of the
// reference features, were they Gaussian: the mean FD of reps sets of n draws from
// N(mean, cov) of the reference statistics against those statistics. It uses no image
// and no classifier, only the statistics, so it is an independent yardstick for the FD
// of n real images.
func gaussianExpectedFD(t *testing.T, ref Stats, n, reps int) float64 {
	t.Helper()
	d := ref.Dim
	cov := mat.NewSymDense(d, append([]float64(nil), ref.Cov...))
	for i := range d {
		cov.SetSym(i, i, cov.At(i, i)+1e-9) // dead (always zero) features make it singular
	}
	var chol mat.Cholesky
	if !chol.Factorize(cov) {
		t.Fatal("reference covariance is not positive definite")
	}
	var l mat.TriDense
	chol.LTo(&l)
	rng := rand.New(rand.NewPCG(11, 12))
	sum := 0.0
	z, x := mat.NewVecDense(d, nil), mat.NewVecDense(d, nil)
	for range reps {
		f := make([]float32, n*d)
		for i := range n {
			for j := range d {
				z.SetVec(j, rng.NormFloat64())
			}
			x.MulVec(&l, z)
			for j := range d {
				f[i*d+j] = float32(x.AtVec(j) + ref.Mean[j])
			}
		}
		st, err := NewStats(f, n, d)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := FrechetDistance(st, ref)
		if err != nil {
			t.Fatal(err)
		}
		sum += fd
	}
	return sum / float64(reps)
}

// TestRealTestDigitsNearExpected: 256 real test images score near the FD expected of a
// perfect model at N = 256, show every class and are classified confidently.
func TestRealTestDigitsNearExpected(t *testing.T) {
	for _, name := range classifier.BuiltinNames() {
		t.Run(name, func(t *testing.T) {
			test := fullTestSet(t, name)
			sc := builtin(t, name)
			want := gaussianExpectedFD(t, sc.ref, 256, 8)
			r, err := sc.Floor(test, classifier.Side, 256, 1)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("N=256: real test images FD %.2f, expected of a perfect (Gaussian) model %.2f; %d classes, mean max-softmax %.3f", r.FD, want, r.Classes, r.MeanMaxSoftmax)
			if r.N != 256 || r.FD < 0.6*want || r.FD > 1.5*want {
				t.Errorf("FD of 256 real test images %.2f, expected about %.2f", r.FD, want)
			}
			if r.Classes != 10 || r.MeanMaxSoftmax < 0.9 {
				t.Errorf("%d classes with >= 2%%, mean max-softmax %.3f; want 10 and > 0.9 for real images", r.Classes, r.MeanMaxSoftmax)
			}
		})
	}
}

// TestNoiseScoresFarAbove: uniform noise is far from digits.
func TestNoiseScoresFarAbove(t *testing.T) {
	sc := builtin(t, "mnist")
	want := gaussianExpectedFD(t, sc.ref, 256, 4)
	rng := rand.New(rand.NewPCG(3, 4))
	noise := &data.Dataset{Name: "noise", N: 256, C: 1, H: 28, W: 28, Pixels: make([]float32, 256*784)}
	for i := range noise.Pixels {
		noise.Pixels[i] = rng.Float32()
	}
	r, err := sc.Score(noise)
	if err != nil {
		t.Fatal(err)
	}
	real, err := sc.Score(embedded(t, "test").Slice(0, 256))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("noise FD %.1f, real digits %.1f, perfect model %.1f", r.FD, real.FD, want)
	if r.FD < 20*want || r.FD < 10*real.FD || r.MeanMaxSoftmax > real.MeanMaxSoftmax-0.2 {
		t.Errorf("noise: FD %.1f, mean max-softmax %.3f; real digits: FD %.1f, %.3f; want noise far above", r.FD, r.MeanMaxSoftmax, real.FD, real.MeanMaxSoftmax)
	}
}

// TestOneClassShowsOneClass: 256 real digits of one class show one class.
func TestOneClassShowsOneClass(t *testing.T) {
	sc := builtin(t, "mnist")
	train := embedded(t, "train")
	var threes []int
	for i := 0; i < train.N && len(threes) < 256; i++ {
		if train.Labels[i] == 3 {
			threes = append(threes, i)
		}
	}
	r, err := sc.Score(train.Subset(threes))
	if err != nil {
		t.Fatal(err)
	}
	if r.Classes != 1 || r.Hist[3] < 250 || r.FD < 10*gaussianExpectedFD(t, sc.ref, 256, 4) {
		t.Errorf("256 threes: %d classes, histogram %v, FD %.1f; want 1 class (3) and a large FD", r.Classes, r.Hist, r.FD)
	}
}

// TestFloorAtSizes: the floor at 28 is the score of the real images themselves; at 32 the
// readers' padding and the score's crop undo each other exactly; at 14 the round trip
// blurs the digits and the floor rises.
func TestFloorAtSizes(t *testing.T) {
	sc := builtin(t, "mnist")
	test := embedded(t, "test")
	f28, err := sc.Floor(test, 28, 200, 5)
	if err != nil {
		t.Fatal(err)
	}
	f32, err := sc.Floor(test, 32, 200, 5)
	if err != nil {
		t.Fatal(err)
	}
	f14, err := sc.Floor(test, 14, 200, 5)
	if err != nil {
		t.Fatal(err)
	}
	if f28.FD != f32.FD || f28.Resized != "" || !strings.Contains(f32.Resized, "centre 28x28 of 32x32") {
		t.Errorf("floor at 28: %.4f (%q), at 32: %.4f (%q); want equal", f28.FD, f28.Resized, f32.FD, f32.Resized)
	}
	if f14.FD < 2*f28.FD || f14.Size != 14 || !strings.Contains(f14.Resized, "bilinear 14x14") {
		t.Errorf("floor at 14: FD %.2f (%q), at 28: %.2f; want the 14x14 round trip well above", f14.FD, f14.Resized, f28.FD)
	}
	if _, err := sc.Floor(test, 14, 2000, 5); err == nil {
		t.Error("a floor at N=2000 from 1000 test images: no error")
	}
}

// TestScoreInput: bad inputs are errors; out-of-range pixels are clamped, not fatal.
func TestScoreInput(t *testing.T) {
	sc := builtin(t, "mnist")
	test := embedded(t, "test").Slice(0, 64)
	over := &data.Dataset{Name: "over", N: test.N, C: 1, H: 28, W: 28, Pixels: make([]float32, len(test.Pixels))}
	for i, v := range test.Pixels {
		over.Pixels[i] = 1.5*v - 0.25 // overshoots both ways, clamps back near the originals
	}
	over.Pixels[7] = float32(math.NaN())
	if r, err := sc.Score(over); err != nil || math.IsNaN(r.FD) || r.N != 64 {
		t.Errorf("pixels outside [0,1]: %+v, %v", r, err)
	}
	for _, bad := range []*data.Dataset{
		{Name: "one", N: 1, C: 1, H: 28, W: 28, Pixels: test.Pixels[:784]},
		{Name: "rgb", N: 2, C: 3, H: 28, W: 28, Pixels: make([]float32, 2*3*784)},
		{Name: "odd", N: 2, C: 1, H: 20, W: 40, Pixels: make([]float32, 2*800)},
	} {
		if _, err := sc.Score(bad); err == nil {
			t.Errorf("%s: no error", bad.Name)
		}
	}
}

// TestModesOfRealStackedDigits: mode coverage of real stacked digits is the number of
// distinct true modes among them (the classifier errs on few channels), and near the
// 1000(1 - e^(-N/1000)) that N uniform draws cover, at 28x28 and at 14x14.
func TestModesOfRealStackedDigits(t *testing.T) {
	sc := builtin(t, "mnist")
	digits := embedded(t, "test")
	const n = 1000
	for _, size := range []int{28, 14} {
		d, err := digits.Resize(size)
		if err != nil {
			t.Fatal(err)
		}
		st, err := data.Stack(d, n)
		if err != nil {
			t.Fatal(err)
		}
		m, err := sc.Modes(st)
		if err != nil {
			t.Fatal(err)
		}
		distinct := map[int]bool{}
		for _, l := range st.Labels {
			distinct[l] = true
		}
		expect := 1000 * (1 - math.Exp(-float64(n)/1000))
		t.Logf("%dx%d: %d modes covered, %d distinct true modes, %.0f expected of uniform draws, KL %.3f", size, size, m.Covered, len(distinct), expect, m.KL)
		tol := 0.02
		if size != 28 {
			tol = 0.06 // the 14x14 round trip blurs some digits past recognition
		}
		if m.N != n || m.Total != 1000 || math.Abs(float64(m.Covered-len(distinct))) > tol*float64(len(distinct)) ||
			math.Abs(float64(m.Covered)-expect) > 40 || m.KL < 0 || m.KL > 1 {
			t.Errorf("%dx%d: %+v; %d distinct true modes, %.0f expected", size, size, m, len(distinct), expect)
		}
	}
	if _, err := sc.Modes(digits); err == nil {
		t.Error("modes of one-channel images: no error")
	}
}

func TestKLUniform(t *testing.T) {
	for _, c := range []struct {
		hist []int
		want float64
	}{{[]int{5, 5, 5, 5}, 0}, {[]int{0, 0, 7, 0}, math.Log(4)}, {[]int{1, 1, 0, 0}, math.Log(2)}, {[]int{0, 0}, 0}} {
		if got := KLUniform(c.hist); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("KLUniform(%v) = %g, want %g", c.hist, got, c.want)
		}
	}
}
