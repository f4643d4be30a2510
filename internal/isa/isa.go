// Package isa decides which instruction-set level the hand-written kernels (internal/gemm,
// internal/simd) run on: the best one the CPU supports, capped by the environment variable
// MDSM_ISA (go, avx2 or avx512), and switchable at run time by tests so that every kernel
// path is tested on any machine that can run it, not only on the one CI happens to land on.
package isa

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// Level is an instruction-set level; a higher level implies the lower ones.
type Level int32

const (
	// Go is portable Go code, no assembly.
	Go Level = iota
	// AVX2 is AVX2 with FMA3 (Haswell, Zen 1 and later).
	AVX2
	// AVX512 is AVX-512F (Skylake-SP, Zen 4 and later).
	AVX512
)

var names = [...]string{Go: "go", AVX2: "avx2", AVX512: "avx512"}

// String returns the level's name as MDSM_ISA spells it.
func (l Level) String() string {
	if l < 0 || int(l) >= len(names) {
		return fmt.Sprintf("isa.Level(%d)", int(l))
	}
	return names[l]
}

// Parse reads a level name (go, avx2, avx512; case-insensitive).
func Parse(s string) (Level, error) {
	for l, n := range names {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Level(l), nil
		}
	}
	return Go, fmt.Errorf("unknown instruction-set level %q: want one of go, avx2, avx512", s)
}

// EnvVar names the environment variable that caps the level (for example MDSM_ISA=avx2 on an
// AVX-512 machine runs the AVX2 kernels).
const EnvVar = "MDSM_ISA"

var (
	supported Level        // the best level this CPU and build support (set by init)
	active    atomic.Int32 // the level in use
	envErr    error        // a bad MDSM_ISA value, reported by Active's callers through Err
)

func init() {
	supported = detect()
	l := supported
	if s, ok := os.LookupEnv(EnvVar); ok && s != "" {
		cap, err := Parse(s)
		if err != nil {
			envErr = fmt.Errorf("%s: %w", EnvVar, err)
		} else {
			l = min(cap, supported)
		}
	}
	active.Store(int32(l))
}

// Supported reports the best level this CPU and build support.
func Supported() Level { return supported }

// Active reports the level the kernels use now: Supported, capped by MDSM_ISA and by Force.
func Active() Level { return Level(active.Load()) }

// Err reports a malformed MDSM_ISA value (nil when it is unset or valid).
func Err() error { return envErr }

// Levels lists the levels this machine can run, lowest first: the ones a test should try.
func Levels() []Level {
	ls := make([]Level, 0, supported+1)
	for l := Go; l <= supported; l++ {
		ls = append(ls, l)
	}
	return ls
}

// Force makes the kernels run at level l and returns a function restoring the previous level;
// ok is false (and nothing changes) when the CPU lacks l. For tests and benchmarks: a switch
// while kernels run on other goroutines takes effect at their next call.
func Force(l Level) (restore func(), ok bool) {
	if l < Go || l > supported {
		return func() {}, false
	}
	old := active.Swap(int32(l))
	return func() { active.Store(old) }, true
}
