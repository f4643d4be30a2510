package simd

import (
	"math"
	"testing"
)

// TestExpm1f compares expm1f with math.Expm1 rounded to float32 over a sweep of the
// negative float32s (every 61st bit pattern) plus small and special values: at most 1 ulp
// apart, and equal in all but a tiny fraction of cases.
func TestExpm1f(t *testing.T) {
	var n, diff int
	check := func(x float32) {
		got := expm1f(x)
		want := float32(math.Expm1(float64(x)))
		n++
		if got != want {
			diff++
			gb, wb := math.Float32bits(got), math.Float32bits(want)
			if gb+1 != wb && wb+1 != gb {
				t.Fatalf("expm1f(%v) = %v, want %v", x, got, want)
			}
		}
	}
	for b := uint32(0x80000000); b < 0xff800000; b += 61 {
		check(math.Float32frombits(b))
	}
	for _, x := range []float32{0, -0, 1e-30, -1e-30, 0.35, -0.35, 0.3500001, -0.3500001, -1, -17, -88, -100, -101, -1e30, 1, 10, 88} {
		check(x)
	}
	if got := expm1f(float32(math.Inf(-1))); got != -1 {
		t.Fatalf("expm1f(-Inf) = %v", got)
	}
	if diff*100000 > n {
		t.Fatalf("expm1f differs from math.Expm1 in %d of %d cases", diff, n)
	}
	t.Logf("%d of %d differ by 1 ulp", diff, n)
}

func BenchmarkExpm1f(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i) / 512
	}
	var s float32
	for i := 0; i < b.N; i++ {
		for _, v := range x {
			s += expm1f(v)
		}
	}
	_ = s
}

func BenchmarkExpm1Float64(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i) / 512
	}
	var s float32
	for i := 0; i < b.N; i++ {
		for _, v := range x {
			s += float32(math.Expm1(float64(v)))
		}
	}
	_ = s
}
