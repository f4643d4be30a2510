package simd

import (
	"math"
	"mdsm/internal/isa"
	"mdsm/internal/isa/isatest"
	"testing"
)

// ulpDiff is the distance in float32 steps between a and b (same sign assumed).
func ulpDiff(a, b float32) int64 {
	d := int64(int32(math.Float32bits(a))) - int64(int32(math.Float32bits(b)))
	if d < 0 {
		d = -d
	}
	return d
}

// TestELUAccuracy sweeps every float32 in [-100, -1e-6] at a stride of 2^8 ulp and a
// thousand points in (0, 10], comparing with the correctly rounded float64 reference,
// at lengths that exercise the vector body and the scalar tail.
func TestELUAccuracy(t *testing.T) { isatest.ForEachLevel(t, testELUAccuracy) }

func testELUAccuracy(t *testing.T) {
	var xs []float32
	for b := math.Float32bits(-1e-6); b <= math.Float32bits(-100); b += 1 << 8 {
		xs = append(xs, math.Float32frombits(b))
	}
	for i := 1; i <= 1000; i++ {
		xs = append(xs, float32(i)/100)
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), -1e-30, -1e-40, -87.9, -88, -88.1, -1000)
	got := make([]float32, len(xs)+3)
	ELU(got, xs)
	worst := int64(0)
	for i, x := range xs {
		want := x
		if x <= 0 {
			want = float32(math.Expm1(float64(x)))
		}
		if x > 0 && got[i] != x {
			t.Fatalf("elu(%g) = %g, want the input unchanged", x, got[i])
		}
		d := ulpDiff(got[i], want)
		if got[i] == want { // +0 and -0 count as equal
			d = 0
		}
		if d > worst {
			worst = d
		}
		if d > 2 {
			t.Errorf("elu(%g) = %.9g, want %.9g (%d ulp)", x, got[i], want, d)
		}
	}
	t.Logf("%d values, worst %d ulp (level %v)", len(xs), worst, isa.Active())
}

func TestELUSpecials(t *testing.T) { isatest.ForEachLevel(t, testELUSpecials) }

func testELUSpecials(t *testing.T) {
	nan := float32(math.NaN())
	in := []float32{nan, float32(math.Inf(1)), float32(math.Inf(-1)), 1, nan, -1, 2, nan, nan}
	out := make([]float32, len(in))
	ELU(out, in)
	for i, x := range in {
		switch {
		case x != x:
			if out[i] == out[i] {
				t.Errorf("elu(NaN) at %d = %v, want NaN", i, out[i])
			}
		case math.IsInf(float64(x), 1):
			if !math.IsInf(float64(out[i]), 1) {
				t.Errorf("elu(+Inf) = %v", out[i])
			}
		case math.IsInf(float64(x), -1):
			if out[i] != -1 {
				t.Errorf("elu(-Inf) = %v, want -1", out[i])
			}
		}
	}
}

func BenchmarkELU(b *testing.B) {
	src := make([]float32, 1<<16)
	for i := range src {
		src[i] = float32(i%200)/20 - 5
	}
	dst := make([]float32, len(src))
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		ELU(dst, src)
	}
}
