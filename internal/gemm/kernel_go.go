package gemm

import "unsafe"

// kernGo is the portable micro-kernel: a 2x4 tile in 8 scalar accumulators, the depth loop
// unrolled by two. Wider tiles make the Go compiler spill on amd64 (15 usable X registers)
// and run slower; this shape measured fastest (~12 GFLOP/s on a Zen 5 core).
func kernGo(kc int, a, b, c *float32, ldc int, beta float32, load int) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	ap := unsafe.Slice(a, 2*kc)
	bp := unsafe.Slice(b, 4*kc)
	p := 0
	for ; p+2 <= kc; p += 2 {
		aq := ap[2*p : 2*p+4 : 2*p+4]
		bq := bp[4*p : 4*p+8 : 4*p+8]
		a0, a1 := aq[0], aq[1]
		b0, b1, b2, b3 := bq[0], bq[1], bq[2], bq[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a0, a1 = aq[2], aq[3]
		b0, b1, b2, b3 = bq[4], bq[5], bq[6], bq[7]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	if p < kc {
		aq := ap[2*p : 2*p+2 : 2*p+2]
		bq := bp[4*p : 4*p+4 : 4*p+4]
		a0, a1 := aq[0], aq[1]
		b0, b1, b2, b3 := bq[0], bq[1], bq[2], bq[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	cs := unsafe.Slice(c, ldc+4)
	r0, r1 := cs[0:4:4], cs[ldc:ldc+4:ldc+4]
	if load != 0 {
		c00 += beta * r0[0]
		c01 += beta * r0[1]
		c02 += beta * r0[2]
		c03 += beta * r0[3]
		c10 += beta * r1[0]
		c11 += beta * r1[1]
		c12 += beta * r1[2]
		c13 += beta * r1[3]
	}
	r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
	r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
}
