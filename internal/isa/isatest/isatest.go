// Package isatest runs a test at every instruction-set level the machine supports, so that
// the pure-Go, AVX2 and AVX-512 kernel paths are each tested wherever they can run.
package isatest

import (
	"testing"

	"mdsm/internal/isa"
)

// ForEachLevel runs f as a subtest named after each level in isa.Levels() (go first), with
// the kernels forced to that level for the subtest's duration. Subtests must not run in
// parallel with other tests that depend on the level.
func ForEachLevel(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	for _, l := range isa.Levels() {
		t.Run(l.String(), func(t *testing.T) {
			restore, ok := isa.Force(l)
			if !ok {
				t.Fatalf("level %v is not selectable on this CPU", l)
			}
			defer restore()
			f(t)
		})
	}
	if isa.Supported() < isa.AVX512 {
		t.Logf("CPU supports up to %v: the levels above it are not tested here", isa.Supported())
	}
}
