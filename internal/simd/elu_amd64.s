// Branch-free float32 ELU with AVX2+FMA; the Go side is elu_amd64.go.

//go:build !purego

#include "textflag.h"

// eluc holds 8-wide constants, 32 bytes each: 1/ln2, ln2 hi, ln2 lo, the Taylor
// coefficients 1/7! .. 1/2!, 1.0, and the float32 exponent bias 127 (as int32).
DATA eluc<>+0(SB)/4, $0x3fb8aa3b // inv ln2
DATA eluc<>+4(SB)/4, $0x3fb8aa3b
DATA eluc<>+8(SB)/4, $0x3fb8aa3b
DATA eluc<>+12(SB)/4, $0x3fb8aa3b
DATA eluc<>+16(SB)/4, $0x3fb8aa3b
DATA eluc<>+20(SB)/4, $0x3fb8aa3b
DATA eluc<>+24(SB)/4, $0x3fb8aa3b
DATA eluc<>+28(SB)/4, $0x3fb8aa3b
DATA eluc<>+32(SB)/4, $0x3f317000 // ln2 hi
DATA eluc<>+36(SB)/4, $0x3f317000
DATA eluc<>+40(SB)/4, $0x3f317000
DATA eluc<>+44(SB)/4, $0x3f317000
DATA eluc<>+48(SB)/4, $0x3f317000
DATA eluc<>+52(SB)/4, $0x3f317000
DATA eluc<>+56(SB)/4, $0x3f317000
DATA eluc<>+60(SB)/4, $0x3f317000
DATA eluc<>+64(SB)/4, $0x3805fdf4 // ln2 lo
DATA eluc<>+68(SB)/4, $0x3805fdf4
DATA eluc<>+72(SB)/4, $0x3805fdf4
DATA eluc<>+76(SB)/4, $0x3805fdf4
DATA eluc<>+80(SB)/4, $0x3805fdf4
DATA eluc<>+84(SB)/4, $0x3805fdf4
DATA eluc<>+88(SB)/4, $0x3805fdf4
DATA eluc<>+92(SB)/4, $0x3805fdf4
DATA eluc<>+96(SB)/4, $0x39500d01 // 1/5040
DATA eluc<>+100(SB)/4, $0x39500d01
DATA eluc<>+104(SB)/4, $0x39500d01
DATA eluc<>+108(SB)/4, $0x39500d01
DATA eluc<>+112(SB)/4, $0x39500d01
DATA eluc<>+116(SB)/4, $0x39500d01
DATA eluc<>+120(SB)/4, $0x39500d01
DATA eluc<>+124(SB)/4, $0x39500d01
DATA eluc<>+128(SB)/4, $0x3ab60b61 // 1/720
DATA eluc<>+132(SB)/4, $0x3ab60b61
DATA eluc<>+136(SB)/4, $0x3ab60b61
DATA eluc<>+140(SB)/4, $0x3ab60b61
DATA eluc<>+144(SB)/4, $0x3ab60b61
DATA eluc<>+148(SB)/4, $0x3ab60b61
DATA eluc<>+152(SB)/4, $0x3ab60b61
DATA eluc<>+156(SB)/4, $0x3ab60b61
DATA eluc<>+160(SB)/4, $0x3c088889 // 1/120
DATA eluc<>+164(SB)/4, $0x3c088889
DATA eluc<>+168(SB)/4, $0x3c088889
DATA eluc<>+172(SB)/4, $0x3c088889
DATA eluc<>+176(SB)/4, $0x3c088889
DATA eluc<>+180(SB)/4, $0x3c088889
DATA eluc<>+184(SB)/4, $0x3c088889
DATA eluc<>+188(SB)/4, $0x3c088889
DATA eluc<>+192(SB)/4, $0x3d2aaaab // 1/24
DATA eluc<>+196(SB)/4, $0x3d2aaaab
DATA eluc<>+200(SB)/4, $0x3d2aaaab
DATA eluc<>+204(SB)/4, $0x3d2aaaab
DATA eluc<>+208(SB)/4, $0x3d2aaaab
DATA eluc<>+212(SB)/4, $0x3d2aaaab
DATA eluc<>+216(SB)/4, $0x3d2aaaab
DATA eluc<>+220(SB)/4, $0x3d2aaaab
DATA eluc<>+224(SB)/4, $0x3e2aaaab // 1/6
DATA eluc<>+228(SB)/4, $0x3e2aaaab
DATA eluc<>+232(SB)/4, $0x3e2aaaab
DATA eluc<>+236(SB)/4, $0x3e2aaaab
DATA eluc<>+240(SB)/4, $0x3e2aaaab
DATA eluc<>+244(SB)/4, $0x3e2aaaab
DATA eluc<>+248(SB)/4, $0x3e2aaaab
DATA eluc<>+252(SB)/4, $0x3e2aaaab
DATA eluc<>+256(SB)/4, $0x3f000000 // 1/2
DATA eluc<>+260(SB)/4, $0x3f000000
DATA eluc<>+264(SB)/4, $0x3f000000
DATA eluc<>+268(SB)/4, $0x3f000000
DATA eluc<>+272(SB)/4, $0x3f000000
DATA eluc<>+276(SB)/4, $0x3f000000
DATA eluc<>+280(SB)/4, $0x3f000000
DATA eluc<>+284(SB)/4, $0x3f000000
DATA eluc<>+288(SB)/4, $0x3f800000 // 1
DATA eluc<>+292(SB)/4, $0x3f800000
DATA eluc<>+296(SB)/4, $0x3f800000
DATA eluc<>+300(SB)/4, $0x3f800000
DATA eluc<>+304(SB)/4, $0x3f800000
DATA eluc<>+308(SB)/4, $0x3f800000
DATA eluc<>+312(SB)/4, $0x3f800000
DATA eluc<>+316(SB)/4, $0x3f800000
DATA eluc<>+320(SB)/4, $0x0000007f // bias
DATA eluc<>+324(SB)/4, $0x0000007f
DATA eluc<>+328(SB)/4, $0x0000007f
DATA eluc<>+332(SB)/4, $0x0000007f
DATA eluc<>+336(SB)/4, $0x0000007f
DATA eluc<>+340(SB)/4, $0x0000007f
DATA eluc<>+344(SB)/4, $0x0000007f
DATA eluc<>+348(SB)/4, $0x0000007f
GLOBL eluc<>(SB), RODATA|NOPTR, $352

// func eluAVX2(dst, src *float32, n int)
//
// dst[i] = max(x,0) + expm1(max(min(x,0), -88)) for x = src[i], i < n (n a multiple of 8):
// elu(x), branch-free, NaN in gives NaN out (the min and max keep x as their second
// source, which those instructions return when an operand is NaN).
TEXT ·eluAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   done
	VXORPS Y0, Y0, Y0
	MOVL $0xc2b00000, AX // -88
	VMOVD AX, X9
	VPBROADCASTD X9, Y9
loop:
	VMOVUPS (SI), Y1
	VMINPS Y1, Y0, Y2          // m = min(0, x)
	VMAXPS Y2, Y9, Y2          // m = max(-88, m)
	VMULPS eluc<>+0(SB), Y2, Y3      // m / ln2
	VROUNDPS $0, Y3, Y3        // k = round(m / ln2)
	VFNMADD231PS eluc<>+32(SB), Y3, Y2 // r = m - k ln2hi
	VFNMADD231PS eluc<>+64(SB), Y3, Y2 // r -= k ln2lo; |r| <= ln2/2
	VMOVUPS eluc<>+96(SB), Y4
	VFMADD213PS eluc<>+128(SB), Y2, Y4
	VFMADD213PS eluc<>+160(SB), Y2, Y4
	VFMADD213PS eluc<>+192(SB), Y2, Y4
	VFMADD213PS eluc<>+224(SB), Y2, Y4
	VFMADD213PS eluc<>+256(SB), Y2, Y4  // q = 1/2 + r/6 + ... + r^5/7!
	VMULPS Y2, Y2, Y5
	VFMADD213PS Y2, Y5, Y4      // p = r + r^2 q = expm1(r)
	VCVTPS2DQ Y3, Y6
	VPADDD eluc<>+320(SB), Y6, Y6
	VPSLLD $23, Y6, Y6          // 2^k (0 for k = -127)
	VSUBPS eluc<>+288(SB), Y6, Y7       // 2^k - 1
	VFMADD231PS Y6, Y4, Y7      // expm1(m) = 2^k expm1(r) + 2^k - 1
	VMAXPS Y1, Y0, Y8           // max(0, x)
	VADDPS Y8, Y7, Y7
	VMOVUPS Y7, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  loop
	VZEROUPPER
done:
	RET
