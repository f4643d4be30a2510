// Package hostile holds no code: its test is the adversarial battery of mdsm. It builds the
// real binary once and runs it on hostile files, paths and flags (FIFOs and devices where
// files belong, symbolic links planted where outputs go, headers that lie about sizes,
// non-finite settings and weights, stray arguments), each case under a timeout, checking
// that the process exits 0 or 1 with a message naming the file or flag and the fix, never
// panics or hangs, stays under a resident-memory bound, writes nothing outside its place
// and never reports a NaN with status 0. It also checks that a run resumed on another
// thread count gives bit-identical weights. See docs/DESIGN.md and the README's guarantees.
package hostile
