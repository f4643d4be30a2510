// A fake of the CUDA driver, NVRTC, cuDNN and NVML entry points mdsm binds, for testing
// the bindings' calling conventions on a machine without a GPU. "Device memory" is host
// memory (cuMemAlloc is malloc), so copies and the fake kernels can be checked end to end.
// Every call records what it received; fake_record() hands the record to the test.
// Kernels other than axpy are accepted by any name and only counted: launches while a
// stream captures are counted apart (they are recorded into the graph, not run), and so
// are captures and graph launches, which is what the tests of the graph logic look at.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rec[40];
static int capturing;
static char rec_str[512];
uint64_t *fake_record(void) { return rec; }
const char *fake_record_str(void) { return rec_str; }

static int fail_env(const char *name) { const char *v = getenv(name); return v && *v; }

// ---- driver ----
int cuInit(unsigned flags) { rec[0] = flags; return fail_env("FAKE_CUDA_NO_DEVICE") ? 100 : 0; }
int cuDriverGetVersion(int *v) { const char *e = getenv("FAKE_CUDA_VERSION"); *v = e ? atoi(e) : 13000; return 0; }
int cuGetErrorName(int res, const char **s) { *s = res == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : res == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN"; return 0; }
int cuGetErrorString(int res, const char **s) { *s = res == 2 ? "out of memory" : res == 100 ? "no CUDA-capable device is detected" : "unknown error"; return 0; }
int cuDeviceGetCount(int *n) { *n = 1; return 0; }
int cuDeviceGet(int *dev, int ord) { if (ord != 0) return 101; *dev = 7; return 0; }
int cuDeviceGetName(char *name, int n, int dev) { if (dev != 7) return 101; strncpy(name, "Fake GPU", n); return 0; }
int cuDeviceGetAttribute(int *v, int attr, int dev) {
	if (dev != 7) return 101;
	*v = attr == 75 ? 9 : attr == 76 ? 0 : attr == 16 ? 132 : -1;
	return 0;
}
int cuDeviceTotalMem_v2(size_t *b, int dev) { *b = (size_t)1 << 30; return dev == 7 ? 0 : 101; }
int cuDeviceGetPCIBusId(char *id, int n, int dev) { strncpy(id, "0000:01:00.0", n); return dev == 7 ? 0 : 101; }
int cuDevicePrimaryCtxRetain(void **ctx, int dev) { *ctx = (void *)0x1234; return dev == 7 ? 0 : 101; }
int cuDevicePrimaryCtxRelease_v2(int dev) { return dev == 7 ? 0 : 101; }
int cuCtxSetCurrent(void *ctx) { return ctx == (void *)0x1234 ? 0 : 201; }
int cuStreamCreate(void **s, unsigned flags) { *s = (void *)0x5678; rec[1] = flags; return 0; }
int cuStreamDestroy_v2(void *s) { return s == (void *)0x5678 ? 0 : 400; }
int cuStreamSynchronize(void *s) { return s == (void *)0x5678 ? 0 : 400; }
int cuMemAlloc_v2(uint64_t *p, size_t n) {
	if (n > ((size_t)1 << 30)) return 2;
	*p = (uint64_t)(uintptr_t)malloc(n);
	return 0;
}
int cuMemFree_v2(uint64_t p) { free((void *)(uintptr_t)p); return 0; }
int cuMemGetInfo_v2(size_t *f, size_t *t) { *f = (size_t)1 << 29; *t = (size_t)1 << 30; return 0; }
int cuMemcpyHtoDAsync_v2(uint64_t dst, const void *src, size_t n, void *s) { if (s != (void *)0x5678) return 400; memcpy((void *)(uintptr_t)dst, src, n); return 0; }
int cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t n, void *s) { if (s != (void *)0x5678) return 400; memcpy(dst, (void *)(uintptr_t)src, n); return 0; }
int cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t n, void *s) { if (s != (void *)0x5678) return 400; memcpy((void *)(uintptr_t)dst, (void *)(uintptr_t)src, n); return 0; }
int cuMemsetD32Async(uint64_t dst, unsigned v, size_t n, void *s) {
	unsigned *d = (unsigned *)(uintptr_t)dst;
	for (size_t i = 0; i < n; i++) d[i] = v;
	return s == (void *)0x5678 ? 0 : 400;
}
int cuModuleLoadData(void **m, const void *image) { strncpy(rec_str, (const char *)image, sizeof rec_str - 1); *m = (void *)0x4d; return 0; }
int cuModuleUnload(void *m) { return m == (void *)0x4d ? 0 : 200; }
int cuModuleGetFunction(void **f, void *m, const char *name) {
	if (m != (void *)0x4d) return 200;
	if (strcmp(name, "axpy") == 0) { *f = (void *)1; return 0; }
	if (strcmp(name, "missing") == 0) return 500; // CUDA_ERROR_NOT_FOUND
	*f = (void *)2; // any other kernel: counted, not run
	return 0;
}
// The fake kernel axpy(float *y, const float *x, float a, int n): y[i] += a*x[i].
int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                   unsigned shmem, void *s, void **params, void **extra) {
	rec[2] = gx; rec[3] = gy; rec[4] = gz; rec[5] = bx; rec[6] = by; rec[7] = bz; rec[8] = shmem;
	rec[9] = (uint64_t)(uintptr_t)s; rec[10] = (uint64_t)(uintptr_t)extra;
	if (s != (void *)0x5678 || (f != (void *)1 && f != (void *)2)) return 400;
	if (capturing) { rec[32]++; return 0; }
	if (f == (void *)2) { rec[33]++; return 0; }
	float *y = *(float **)params[0];
	const float *x = *(const float **)params[1];
	float a = *(float *)params[2];
	int n = *(int *)params[3];
	for (int i = 0; i < n; i++) y[i] += a * x[i];
	return 0;
}
int cuStreamBeginCapture_v2(void *s, int mode) { rec[11] = mode; rec[34]++; capturing = 1; return s == (void *)0x5678 ? 0 : 400; }
// FAKE_CUDA_CAPTURE_FAIL: the capture is invalidated (a call the driver cannot capture).
int cuStreamEndCapture(void *s, void **g) {
	capturing = 0;
	if (fail_env("FAKE_CUDA_CAPTURE_FAIL")) { *g = 0; return 901; }
	*g = (void *)0x6;
	return s == (void *)0x5678 ? 0 : 400;
}
int cuGraphInstantiateWithFlags(void **e, void *g, unsigned long long flags) { *e = (void *)0x7; rec[12] = flags; return g == (void *)0x6 ? 0 : 400; }
int cuGraphLaunch(void *e, void *s) { rec[13]++; return e == (void *)0x7 && s == (void *)0x5678 ? 0 : 400; }
int cuGraphExecDestroy(void *e) { return e == (void *)0x7 ? 0 : 400; }
int cuGraphDestroy(void *g) { return g == (void *)0x6 ? 0 : 400; }

// ---- NVRTC ----
static char prog_src[4096];
int nvrtcVersion(int *ma, int *mi) { *ma = 13; *mi = 0; return 0; }
const char *nvrtcGetErrorString(int r) { return r == 6 ? "NVRTC_ERROR_COMPILATION" : "NVRTC_ERROR"; }
int nvrtcCreateProgram(void **p, const char *src, const char *name, int nh, const char **h, const char **in) {
	strncpy(prog_src, src, sizeof prog_src - 1);
	strncpy(rec_str, name, sizeof rec_str - 1);
	*p = (void *)0x99;
	return nh == 0 ? 0 : 3;
}
static char opts[1024];
int nvrtcCompileProgram(void *p, int n, const char **o) {
	opts[0] = 0;
	for (int i = 0; i < n; i++) { strcat(opts, o[i]); strcat(opts, ";"); }
	return strstr(prog_src, "#error") ? 6 : 0;
}
int nvrtcGetProgramLogSize(void *p, size_t *n) { *n = 12; return 0; }
int nvrtcGetProgramLog(void *p, char *log) { strcpy(log, "fake: error"); return 0; }
int nvrtcGetCUBINSize(void *p, size_t *n) { *n = strlen(opts) + strlen(prog_src) + 1; return 0; }
int nvrtcGetCUBIN(void *p, char *out) { strcpy(out, opts); strcat(out, prog_src); return 0; }
int nvrtcDestroyProgram(void **p) { *p = 0; return 0; }

// ---- cuDNN ----
typedef struct { int kind, a, b, c, d, e, f, g, h; } desc;
typedef struct { int algo, status; float time; size_t memory; int determinism, mathType; int reserved[3]; } perf_t;
size_t cudnnGetVersion(void) { const char *e = getenv("FAKE_CUDNN_VERSION"); return e ? (size_t)atol(e) : 90100; }
const char *cudnnGetErrorString(int s) { return s == 9 ? "CUDNN_STATUS_NOT_SUPPORTED" : "CUDNN_STATUS_BAD_PARAM"; }
int cudnnCreate(void **h) { *h = (void *)0x88; return 0; }
int cudnnDestroy(void *h) { return h == (void *)0x88 ? 0 : 3; }
int cudnnSetStream(void *h, void *s) { rec[14] = (uint64_t)(uintptr_t)s; return h == (void *)0x88 ? 0 : 3; }
static int mkdesc(void **d, int kind) { desc *x = calloc(1, sizeof *x); x->kind = kind; *d = x; return 0; }
int cudnnCreateTensorDescriptor(void **d) { return mkdesc(d, 1); }
int cudnnCreateFilterDescriptor(void **d) { return mkdesc(d, 2); }
int cudnnCreateConvolutionDescriptor(void **d) { return mkdesc(d, 3); }
int cudnnDestroyTensorDescriptor(void *d) { free(d); return 0; }
int cudnnDestroyFilterDescriptor(void *d) { free(d); return 0; }
int cudnnDestroyConvolutionDescriptor(void *d) { free(d); return 0; }
int cudnnSetTensor4dDescriptor(desc *d, int format, int dtype, int n, int c, int h, int w) {
	if (d->kind != 1 || format != 0 || dtype != 0) return 3;
	d->a = n; d->b = c; d->c = h; d->d = w; return 0;
}
int cudnnSetFilter4dDescriptor(desc *d, int dtype, int format, int k, int c, int h, int w) {
	if (d->kind != 2 || format != 0 || dtype != 0) return 3;
	d->a = k; d->b = c; d->c = h; d->d = w; return 0;
}
int cudnnSetConvolution2dDescriptor(desc *d, int ph, int pw, int u, int v, int dh, int dw, int mode, int dtype) {
	if (d->kind != 3 || u != 1 || v != 1 || dh != 1 || dw != 1 || mode != 1 || dtype != 0) return 3;
	d->a = ph; d->b = pw; return 0;
}
int cudnnSetConvolutionMathType(desc *d, int m) { d->e = m; rec[15] = m; return d->kind == 3 ? 0 : 3; }
// The ranking: a faster non-deterministic algorithm, a deterministic TF32 one, then the
// deterministic float32 one (algo 2, 4096 bytes of workspace).
static int algos(int req, int *n, perf_t *p) {
	if (req < 3) return 3;
	perf_t r[3] = {{0, 0, 1.0f, 0, 0, 0}, {1, 0, 1.5f, 1024, 1, 1}, {2, 0, 2.0f, 4096, 1, 3}};
	memcpy(p, r, sizeof r);
	*n = 3;
	return 0;
}
int cudnnGetConvolutionForwardAlgorithm_v7(void *h, desc *x, desc *w, desc *c, desc *y, int req, int *n, perf_t *p) {
	if (x->kind != 1 || w->kind != 2 || c->kind != 3 || y->kind != 1) return 3;
	return algos(req, n, p);
}
int cudnnGetConvolutionBackwardDataAlgorithm_v7(void *h, desc *w, desc *dy, desc *c, desc *dx, int req, int *n, perf_t *p) {
	if (w->kind != 2 || dy->kind != 1 || c->kind != 3 || dx->kind != 1) return 3;
	return algos(req, n, p);
}
int cudnnGetConvolutionBackwardFilterAlgorithm_v7(void *h, desc *x, desc *dy, desc *c, desc *dw, int req, int *n, perf_t *p) {
	if (x->kind != 1 || dy->kind != 1 || c->kind != 3 || dw->kind != 2) return 3;
	return algos(req, n, p);
}
static int ws(int algo, size_t *s) { *s = algo == 2 ? 4096 : algo == 1 ? 1024 : 0; return 0; }
int cudnnGetConvolutionForwardWorkspaceSize(void *h, desc *x, desc *w, desc *c, desc *y, int algo, size_t *s) { return ws(algo, s); }
int cudnnGetConvolutionBackwardDataWorkspaceSize(void *h, desc *w, desc *dy, desc *c, desc *dx, int algo, size_t *s) { return ws(algo, s); }
int cudnnGetConvolutionBackwardFilterWorkspaceSize(void *h, desc *x, desc *dy, desc *c, desc *dw, int algo, size_t *s) { return ws(algo, s); }
// Forward is computed for real (NCHW, "same" padding): y = alpha*conv(x, w) + beta*y.
int cudnnConvolutionForward(void *h, const float *alpha, desc *xd, const float *x, desc *wd, const float *w, desc *cd,
                            int algo, void *wsp, size_t wss, const float *beta, desc *yd, float *y) {
	if (h != (void *)0x88 || xd->kind != 1 || wd->kind != 2 || cd->kind != 3 || yd->kind != 1) return 3;
	rec[16] = algo; rec[17] = wss; rec[18] = (uint64_t)(uintptr_t)wsp;
	int n = xd->a, ci = xd->b, s = xd->c, co = wd->a, k = wd->c, p = cd->a;
	for (int b = 0; b < n; b++)
		for (int o = 0; o < co; o++)
			for (int yy = 0; yy < s; yy++)
				for (int xx = 0; xx < s; xx++) {
					float acc = 0;
					for (int i = 0; i < ci; i++)
						for (int ky = 0; ky < k; ky++)
							for (int kx = 0; kx < k; kx++) {
								int sy = yy + ky - p, sx = xx + kx - p;
								if (sy < 0 || sy >= s || sx < 0 || sx >= s) continue;
								acc += w[((o * ci + i) * k + ky) * k + kx] * x[((b * ci + i) * s + sy) * s + sx];
							}
					float *o_ = &y[((b * co + o) * s + yy) * s + xx];
					*o_ = *alpha * acc + (*beta == 0 ? 0 : *beta * *o_);
				}
	return 0;
}
// The backward passes record their arguments: the test checks each arrived in its place.
int cudnnConvolutionBackwardData(void *h, const float *alpha, desc *wd, const void *w, desc *dyd, const void *dy, desc *cd,
                                 int algo, void *wsp, size_t wss, const float *beta, desc *dxd, void *dx) {
	if (h != (void *)0x88 || wd->kind != 2 || dyd->kind != 1 || cd->kind != 3 || dxd->kind != 1) return 3;
	rec[19] = (uint64_t)(uintptr_t)w; rec[20] = (uint64_t)(uintptr_t)dy; rec[21] = (uint64_t)(uintptr_t)dx;
	rec[22] = algo; rec[23] = wss; rec[24] = (uint64_t)(*alpha * 1000); rec[25] = (uint64_t)(*beta * 1000);
	return 0;
}
int cudnnConvolutionBackwardFilter(void *h, const float *alpha, desc *xd, const void *x, desc *dyd, const void *dy, desc *cd,
                                   int algo, void *wsp, size_t wss, const float *beta, desc *dwd, void *dw) {
	if (h != (void *)0x88 || xd->kind != 1 || dyd->kind != 1 || cd->kind != 3 || dwd->kind != 2) return 3;
	rec[26] = (uint64_t)(uintptr_t)x; rec[27] = (uint64_t)(uintptr_t)dy; rec[28] = (uint64_t)(uintptr_t)dw;
	rec[29] = algo; rec[30] = (uint64_t)(*beta * 1000);
	return 0;
}

// ---- NVML ----
typedef struct { unsigned long long total, free, used; } nvml_mem;
typedef struct { unsigned gpu, memory; } nvml_util;
int nvmlInit_v2(void) { return 0; }
int nvmlShutdown(void) { return 0; }
const char *nvmlErrorString(int r) { return r == 6 ? "Not Found" : "Unknown Error"; }
int nvmlDeviceGetHandleByPciBusId_v2(const char *bus, void **d) { if (strcmp(bus, "0000:01:00.0")) return 6; *d = (void *)0x31; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned i, void **d) { *d = (void *)0x31; return i == 0 ? 0 : 6; }
int nvmlDeviceGetName(void *d, char *name, unsigned n) { strncpy(name, "Fake GPU", n); return d == (void *)0x31 ? 0 : 6; }
int nvmlDeviceGetMemoryInfo(void *d, nvml_mem *m) { m->total = 1ull << 30; m->free = 3ull << 28; m->used = 1ull << 28; return d == (void *)0x31 ? 0 : 6; }
int nvmlDeviceGetUtilizationRates(void *d, nvml_util *u) { u->gpu = 42; u->memory = 7; return d == (void *)0x31 ? 0 : 6; }
