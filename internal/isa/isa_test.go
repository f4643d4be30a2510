package isa

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Level
		ok   bool
	}{{"go", Go, true}, {"AVX2", AVX2, true}, {" avx512 ", AVX512, true}, {"sse", Go, false}, {"", Go, false}} {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestForce(t *testing.T) {
	start := Active()
	for _, l := range Levels() {
		restore, ok := Force(l)
		if !ok || Active() != l {
			t.Fatalf("Force(%v): ok %v, active %v", l, ok, Active())
		}
		restore()
		if Active() != start {
			t.Fatalf("restore after %v left %v, want %v", l, Active(), start)
		}
	}
	if _, ok := Force(Supported() + 1); ok {
		t.Errorf("Force above the supported level %v succeeded", Supported())
	}
	if Levels()[0] != Go || Levels()[len(Levels())-1] != Supported() {
		t.Errorf("Levels() = %v, want go .. %v", Levels(), Supported())
	}
	t.Logf("CPU supports %v; tests of the kernels run at %v", Supported(), Levels())
}
