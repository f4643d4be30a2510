//go:build !purego

package winograd

import (
	"testing"
	"unsafe"
)

// TestLaneJobLayout: the byte offsets of laneJob's fields are those gen.go compiled into the
// assembly kernels (offImg and the others there).
func TestLaneJobLayout(t *testing.T) {
	var j laneJob
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"img", unsafe.Offsetof(j.img), 0}, {"step", unsafe.Offsetof(j.step), 64},
		{"s", unsafe.Offsetof(j.s), 128}, {"nt", unsafe.Offsetof(j.nt), 136},
		{"ty0", unsafe.Offsetof(j.ty0), 144}, {"ty1", unsafe.Offsetof(j.ty1), 152},
		{"band", unsafe.Offsetof(j.band), 160}, {"bw", unsafe.Offsetof(j.bw), 168},
		{"v", unsafe.Offsetof(j.v), 176}, {"ld", unsafe.Offsetof(j.ld), 184},
		{"bias", unsafe.Offsetof(j.bias), 192},
	} {
		if f.got != f.want {
			t.Errorf("laneJob.%s at byte %d, the kernels read it at %d: run go generate after changing the struct or gen.go", f.name, f.got, f.want)
		}
	}
}
