// mdsm's own GPU kernels: every elementwise and reduction step of the MDSM engine that is
// not a convolution (cuDNN does those). Compiled at run time by NVRTC for the GPU found
// (gpu/kernels.go); each kernel has a Go twin in gpu/twins.go that computes the same
// function and is tested against the CPU engine. Layout: NCHW float32.
//
// Reductions use a fixed tree over a fixed number of threads and no atomics, so every
// result is the same run to run on one card. No header is included: NVRTC provides the
// built-ins used here (expm1f, sqrtf, __float_as_int).

#define FOR_EACH(i, n) for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)
#define RED_THREADS 256

__device__ __forceinline__ float elu_d(float a) { return fminf(a, 0.0f) + 1.0f; }
__device__ __forceinline__ bool finitef(float x) { return (__float_as_int(x) & 0x7f800000) != 0x7f800000; }

// sum_block reduces one double per thread of a RED_THREADS block; thread 0 gets the sum.
__device__ double sum_block(double v, double *sh) {
	sh[threadIdx.x] = v;
	__syncthreads();
	for (int s = RED_THREADS / 2; s > 0; s >>= 1) {
		if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
		__syncthreads();
	}
	double r = sh[0];
	__syncthreads();
	return r;
}

extern "C" __global__ void elu(const float *z, float *a, int n) {
	FOR_EACH(i, n) {
		float v = z[i];
		a[i] = v > 0.0f ? v : expm1f(v);
	}
}

extern "C" __global__ void elu_tangent(const float *a, const float *zd, float *ad, int n) {
	FOR_EACH(i, n) ad[i] = elu_d(a[i]) * zd[i];
}

extern "C" __global__ void elu_backward(const float *a, float *g, int n) {
	FOR_EACH(i, n) g[i] *= elu_d(a[i]);
}

// ga = ga elu'(z) + gtA elu''(z) zd (= gtA ad where a's sign bit is set); gtz = gtA elu'(z).
extern "C" __global__ void elu_backward_second(const float *a, float *ga, const float *ad, const float *gtA, float *gtz, int n) {
	FOR_EACH(i, n) {
		float v = a[i], d = elu_d(v);
		float t = __float_as_int(v) < 0 ? gtA[i] * ad[i] : 0.0f;
		ga[i] = ga[i] * d + t;
		if (gtz) gtz[i] = gtA[i] * d;
	}
}

extern "C" __global__ void mean_pool(const float *in, float *out, int planes, int s, int acc) {
	int h = s / 2;
	FOR_EACH(o, planes * h * h) {
		int p = o / (h * h), r = o % (h * h), y = r / h, x = r % h;
		int i = p * s * s + 2 * y * s + 2 * x;
		float v = (in[i] + in[i + 1] + in[i + s] + in[i + s + 1]) * 0.25f;
		out[o] = acc ? out[o] + v : v;
	}
}

extern "C" __global__ void mean_unpool(const float *gout, float *out, int planes, int s, int acc) {
	int h = s / 2;
	FOR_EACH(o, planes * s * s) {
		int p = o / (s * s), r = o % (s * s), y = r / s, x = r % s;
		float v = gout[p * h * h + (y / 2) * h + x / 2] * 0.25f;
		out[o] = acc ? out[o] + v : v;
	}
}

extern "C" __global__ void add_bias(float *out, const float *b1, const float *b2, int n, int c, int plane) {
	FOR_EACH(i, n * c * plane) {
		int ch = (i / plane) % c;
		float v = b1[ch];
		if (b2) v += b2[ch];
		out[i] += v;
	}
}

extern "C" __global__ void add(float *dst, const float *src, int n) {
	FOR_EACH(i, n) dst[i] += src[i];
}

// One block per channel: gb[c] += sum of g over images and pixels of channel c.
extern "C" __global__ void bias_grad(const float *g, float *gb, int n, int c, int plane) {
	__shared__ double sh[RED_THREADS];
	int ch = blockIdx.x;
	double s = 0;
	for (int k = threadIdx.x; k < n * plane; k += RED_THREADS) {
		int b = k / plane, p = k % plane;
		s += g[(b * c + ch) * plane + p];
	}
	s = sum_block(s, sh);
	if (threadIdx.x == 0) gb[ch] += (float)s;
}

// One block per sample: u = a.h + b1, w = c.h + b2, E = u w + sum d h^2 + b3.
extern "C" __global__ void head_energy(const float *h, const float *a, const float *b1, const float *c, const float *b2,
                                       const float *d, const float *b3, float *u, float *w, float *e, int F) {
	__shared__ double sh[RED_THREADS];
	int b = blockIdx.x;
	const float *hs = h + (size_t)b * F;
	double su = 0, sw = 0, sq = 0;
	for (int j = threadIdx.x; j < F; j += RED_THREADS) {
		double v = hs[j];
		su += (double)a[j] * v;
		sw += (double)c[j] * v;
		sq += (double)d[j] * v * v;
	}
	su = sum_block(su, sh) + b1[0];
	sw = sum_block(sw, sh) + b2[0];
	sq = sum_block(sq, sh);
	if (threadIdx.x == 0) {
		u[b] = (float)su;
		w[b] = (float)sw;
		e[b] = (float)(su * sw + sq + (double)b3[0]);
	}
}

extern "C" __global__ void head_input_grad(const float *h, const float *a, const float *c, const float *d, const float *u,
                                           const float *w, float *g, int n, int F) {
	FOR_EACH(i, n * F) {
		int b = i / F, j = i % F;
		g[i] = a[j] * w[b] + c[j] * u[b] + 2.0f * d[j] * h[i];
	}
}

// One block per sample: ud = a.hd, wd = c.hd.
extern "C" __global__ void head_tangent_sums(const float *hd, const float *a, const float *c, float *ud, float *wd, int F) {
	__shared__ double sh[RED_THREADS];
	int b = blockIdx.x;
	const float *hs = hd + (size_t)b * F;
	double su = 0, sw = 0;
	for (int j = threadIdx.x; j < F; j += RED_THREADS) {
		su += (double)a[j] * hs[j];
		sw += (double)c[j] * hs[j];
	}
	su = sum_block(su, sh);
	sw = sum_block(sw, sh);
	if (threadIdx.x == 0) {
		ud[b] = (float)su;
		wd[b] = (float)sw;
	}
}

extern "C" __global__ void head_tangent_backward(const float *hd, const float *a, const float *c, const float *d,
                                                 const float *ud, const float *wd, float *gP, int n, int F) {
	FOR_EACH(i, n * F) {
		int b = i / F, j = i % F;
		gP[i] = a[j] * wd[b] + c[j] * ud[b] + 2.0f * d[j] * hd[i];
	}
}

// One thread per feature j (sums over the batch in order); thread F adds the biases'.
extern "C" __global__ void head_weight_grad(const float *h, const float *hd, const float *u, const float *w, const float *ud,
                                            const float *wd, float *ga, float *gc, float *gd, float *gb1, float *gb2, int n,
                                            int F) {
	FOR_EACH(j, F + 1) {
		if (j == F) {
			double s1 = 0, s2 = 0;
			for (int b = 0; b < n; b++) {
				s1 += wd[b];
				s2 += ud[b];
			}
			gb1[0] += (float)s1;
			gb2[0] += (float)s2;
			continue;
		}
		double sa = 0, sc = 0, sd = 0;
		for (int b = 0; b < n; b++) {
			double hv = h[(size_t)b * F + j], hdv = hd[(size_t)b * F + j];
			sa += hdv * w[b] + hv * wd[b];
			sc += (double)ud[b] * hv + (double)u[b] * hdv;
			sd += 2.0 * hv * hdv;
		}
		ga[j] += (float)sa;
		gc[j] += (float)sc;
		gd[j] += (float)sd;
	}
}

extern "C" __global__ void perturb(const float *x, const float *noise, const float *sig, float *xn, int n, int dim) {
	FOR_EACH(i, n * dim) xn[i] = x[i] + sig[i / dim] * noise[i];
}

// One block per sample: r = g - sigma noise inv0, wb = 1/(sigma^2 total), v = 2 r wb,
// part[b] = wb sum r^2.
extern "C" __global__ void loss_residual(const float *g, const float *noise, const float *sig, float *v, double *part, int dim,
                                         double inv0, int total) {
	__shared__ double sh[RED_THREADS];
	int b = blockIdx.x;
	double s = sig[b];
	double wb = 1.0 / (s * s) / (double)total;
	double sum = 0;
	for (int j = threadIdx.x; j < dim; j += RED_THREADS) {
		size_t i = (size_t)b * dim + j;
		double r = (double)g[i] - s * (double)noise[i] * inv0;
		sum += r * r;
		v[i] = (float)(2.0 * r * wb);
	}
	sum = sum_block(sum, sh);
	if (threadIdx.x == 0) part[b] = sum * wb;
}

// One thread: acc[0] += part[0] + ... + part[n-1], in order.
extern "C" __global__ void loss_sum(const double *part, double *acc, int n) {
	if (blockIdx.x == 0 && threadIdx.x == 0) {
		double s = acc[0];
		for (int b = 0; b < n; b++) s += part[b];
		acc[0] = s;
	}
}

// Adam with the bias corrections folded into step and eps; [skip_lo, skip_hi) is left alone
// (the energy offset). flag[0] is set to 1 when a gradient or an updated weight is not finite.
extern "C" __global__ void adam(float *w, const float *g, float *m, float *v, int n, float b1, float b2, float step, float eps,
                                int skip_lo, int skip_hi, int *flag) {
	FOR_EACH(i, n) {
		if (i >= skip_lo && i < skip_hi) continue;
		float gi = g[i];
		float mi = b1 * m[i] + (1.0f - b1) * gi;
		float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
		m[i] = mi;
		v[i] = vi;
		float wi = w[i] - step * mi / (sqrtf(vi) + eps);
		w[i] = wi;
		if (!finitef(gi) || !finitef(wi)) flag[0] = 1;
	}
}


// ---- Counter-based noise: Philox4x32-10 and Box-Muller (internal/philox is the twin) ----

// philox_normal4 is elements 4b..4b+3 of draw d under key (k0, k1): Philox4x32-10 of the
// counter (b, d), each pair of words turned into two normals by Box-Muller in double.
__device__ void philox_normal4(unsigned k0, unsigned k1, unsigned long long d, unsigned long long b, float z[4]) {
	unsigned c0 = (unsigned)b, c1 = (unsigned)(b >> 32), c2 = (unsigned)d, c3 = (unsigned)(d >> 32);
	for (int r = 0; r < 10; r++) {
		if (r > 0) {
			k0 += 0x9E3779B9u;
			k1 += 0xBB67AE85u;
		}
		unsigned long long p0 = (unsigned long long)0xD2511F53u * c0;
		unsigned long long p1 = (unsigned long long)0xCD9E8D57u * c2;
		unsigned n0 = (unsigned)(p1 >> 32) ^ c1 ^ k0, n2 = (unsigned)(p0 >> 32) ^ c3 ^ k1;
		c1 = (unsigned)p1;
		c3 = (unsigned)p0;
		c0 = n0;
		c2 = n2;
	}
	unsigned w[4] = {c0, c1, c2, c3};
	for (int p = 0; p < 2; p++) {
		double u1 = ((double)w[2 * p] + 1.0) * (1.0 / 4294967296.0);
		double u2 = (double)w[2 * p + 1] * (1.0 / 4294967296.0);
		double r = sqrt(-2.0 * log(u1));
		double s, c;
		sincos(6.283185307179586 * u2, &s, &c);
		z[2 * p] = (float)(r * c);
		z[2 * p + 1] = (float)(r * s);
	}
}

// z[0..n) = draw d (the check of the generator against its twin).
extern "C" __global__ void philox_normals(float *z, unsigned k0, unsigned k1, unsigned long long d, int n) {
	FOR_EACH(b, (n + 3) / 4) {
		float v[4];
		philox_normal4(k0, k1, d, b, v);
		for (int l = 0; l < 4 && 4 * b + l < n; l++) z[4 * b + l] = v[l];
	}
}

// ---- Langevin chains on the device (sampling.ChainSpec) ----
// The chain's step index k lives in device memory (step[0]) so that one captured step
// replays for every k. Products and sums are rounded one by one (__dmul_rn, __dadd_rn: no
// FMA contraction), as the CPU chain computes them. "free" marks the moving pixels of one
// image (dim values, 1 or 0; NULL: all move); n counts the values of the whole batch.

// in = x on free pixels, truth + clamp_std[k] z (draw 2k+1) on clamped ones.
extern "C" __global__ void langevin_input(const float *x, const float *truth, const float *free, const double *clamp_std,
                                          const int *step, unsigned k0, unsigned k1, float *in, int n, int dim) {
	int k = step[0];
	double s = clamp_std[k];
	FOR_EACH(b, (n + 3) / 4) {
		float z[4] = {0, 0, 0, 0};
		if (s > 0) philox_normal4(k0, k1, 2ull * k + 1, b, z);
		for (int l = 0; l < 4 && 4 * b + l < n; l++) {
			int i = 4 * b + l;
			if (free[i % dim] != 0.0f)
				in[i] = x[i];
			else if (s > 0)
				in[i] = (float)__dadd_rn((double)truth[i], __dmul_rn(s, (double)z[l]));
			else
				in[i] = truth[i];
		}
	}
}

// One thread: trace[k] = the mean of the n energies, summed in order.
extern "C" __global__ void langevin_trace(const float *e, double *trace, const int *step, int n) {
	if (blockIdx.x == 0 && threadIdx.x == 0) {
		double s = 0;
		for (int b = 0; b < n; b++) s += (double)e[b];
		trace[step[0]] = s / (double)n;
	}
}

// x <- x - h g + a[k] z (draw 2k+2) on free pixels; bad[k] = 1 when a new value is not
// finite.
extern "C" __global__ void langevin_update(float *x, const float *g, const float *free, const double *a_k, const int *step,
                                           double h, unsigned k0, unsigned k1, int *bad, int n, int dim) {
	int k = step[0];
	double a = a_k[k];
	FOR_EACH(b, (n + 3) / 4) {
		float z[4] = {0, 0, 0, 0};
		if (a > 0) philox_normal4(k0, k1, 2ull * k + 2, b, z);
		for (int l = 0; l < 4 && 4 * b + l < n; l++) {
			int i = 4 * b + l;
			if (free && free[i % dim] == 0.0f) continue;
			double v = __dsub_rn((double)x[i], __dmul_rn(h, (double)g[i]));
			if (a > 0) v = __dadd_rn(v, __dmul_rn(a, (double)z[l]));
			float nx = (float)v;
			x[i] = nx;
			if (!finitef(nx)) bad[k] = 1;
		}
	}
}

// One thread: the next step.
extern "C" __global__ void step_advance(int *step) {
	if (blockIdx.x == 0 && threadIdx.x == 0) step[0] += 1;
}

// The denoising jump: out = x - s2 g on free pixels, x elsewhere.
extern "C" __global__ void langevin_denoise(const float *x, const float *g, const float *free, double s2, float *out, int n,
                                            int dim) {
	FOR_EACH(i, n) {
		if (free && free[i % dim] == 0.0f)
			out[i] = x[i];
		else
			out[i] = (float)__dsub_rn((double)x[i], __dmul_rn(s2, (double)g[i]));
	}
}

// ---- Data-parallel training: the fixed-order sum of a round's slot gradients ----

// acc[i] (+)= recv[0][i] + recv[1][i] + ... + recv[active-1][i], added one by one in slot
// order (blocks of chunk values); first: the round starts the sum at recv[0].
extern "C" __global__ void add_chunks(float *acc, const float *recv, int chunk, int active, int first) {
	FOR_EACH(i, chunk) {
		float v = first ? recv[i] : acc[i] + recv[i];
		for (int q = 1; q < active; q++) v += recv[(size_t)q * chunk + i];
		acc[i] = v;
	}
}
