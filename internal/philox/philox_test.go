package philox

import (
	"math"
	"testing"
)

// TestKnownAnswers: the three philox4x32 10 lines of Random123's tests/kat_vectors
// (counter, key, expected output).
func TestKnownAnswers(t *testing.T) {
	for _, tc := range []struct {
		ctr  [4]uint32
		key  Key
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, Key{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, Key{0xffffffff, 0xffffffff},
			[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, Key{0xa4093822, 0x299f31d0},
			[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	} {
		if got := Block(tc.ctr, tc.key); got != tc.want {
			t.Errorf("Block(%08x, %08x) = %08x, want %08x", tc.ctr, tc.key, got, tc.want)
		}
	}
}

// TestNormals: the draws are standard normal (moments, tails, no two draws or keys
// alike) and Normals lays out Normal4's lanes in order, whatever the length.
func TestNormals(t *testing.T) {
	const n = 1 << 18
	z := make([]float32, n)
	Normals(KeyOf(1), 3, z)
	var s1, s2, s3, s4 float64
	tail := 0
	for _, v := range z {
		x := float64(v)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("non-finite draw %v", v)
		}
		s1 += x
		s2 += x * x
		s3 += x * x * x
		s4 += x * x * x * x
		if math.Abs(x) > 3 {
			tail++
		}
	}
	mean, vr := s1/n, s2/n
	// standard errors: 1/sqrt(n) = 0.002 for the mean, sqrt(2/n) = 0.0028 for the variance
	if math.Abs(mean) > 0.01 || math.Abs(vr-1) > 0.015 || math.Abs(s3/n) > 0.03 || math.Abs(s4/n-3) > 0.08 {
		t.Errorf("moments: mean %.4f, variance %.4f, third %.4f, fourth %.4f", mean, vr, s3/n, s4/n)
	}
	if p := float64(tail) / n; math.Abs(p-0.0027) > 0.0006 {
		t.Errorf("P(|z| > 3) = %.5f, want 0.0027", p)
	}
	for i := 0; i < 64; i++ {
		if got := Normal4(KeyOf(1), 3, uint64(i/4))[i%4]; got != z[i] {
			t.Fatalf("element %d: Normals %v, Normal4 %v", i, z[i], got)
		}
	}
	odd := make([]float32, 7)
	Normals(KeyOf(1), 3, odd)
	for i := range odd {
		if odd[i] != z[i] {
			t.Fatalf("a draw of 7 differs from the first 7 of a longer one at %d", i)
		}
	}
	other := make([]float32, 64)
	Normals(KeyOf(1), 4, other)
	same := 0
	for i := range other {
		if other[i] == z[i] {
			same++
		}
	}
	Normals(KeyOf(2), 3, other)
	for i := range other {
		if other[i] == z[i] {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d values repeat across draws or keys", same)
	}
}

func BenchmarkNormals(b *testing.B) {
	z := make([]float32, 64*1024)
	b.SetBytes(int64(4 * len(z)))
	for i := 0; i < b.N; i++ {
		Normals(KeyOf(1), uint64(i), z)
	}
}
