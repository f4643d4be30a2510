// Package sampling draws images from, and measures, an energy model trained with multiscale
// denoising score matching (MDSM). It knows nothing about the network: everything works against
// the small Energy interface, which *nn.Model[float32] satisfies, so the package can be tested
// against Gaussians with known answers.
//
// What is here, each in its own file:
//
//   - schedule.go: annealing temperature schedules as JSON-serialisable values ("exp", "lin",
//     "const", "piecewise") plus the control-point editing helpers a schedule editor needs.
//   - langevin.go: the stepwise annealed Langevin Chain (paper eq. 8) and its energy trace.
//   - chains.go: the device seam of the Chain (ChainEnergy): an energy that runs whole
//     chains where it evaluates the network (a GPU) and hands back only what is asked for.
//   - batch.go: SampleBatches, many chains across all cores.
//   - mask.go, inpaint.go: inpainting masks and the masked Langevin chain.
//   - denoise.go: the single-step denoising jump (paper eq. 9), AddNoise and PSNR.
//   - energy.go: the Energy interface, energy scoring of a data split, histograms, AUROC, CSV.
//   - gaussian.go: GaussianEnergy, a diagonal Gaussian energy with a known partition function.
//   - ais.go: annealed importance sampling (forward and reverse) for log Z and bits/dim.
//   - neighbors.go: L2 nearest neighbours of samples in a training set.
//   - grid.go, npy.go: image grids, atomic PNG writing and NumPy .npy output.
//
// Conventions: images are []float32 in NCHW order with pixels nominally in [0,1]; D denotes the
// number of scalars per image (channels x height x width). Random numbers come from math/rand/v2
// PCG generators seeded explicitly, except the Langevin chains' noise, which is counter-based
// (internal/philox) so that a GPU can make the same numbers where it uses them; every result
// is reproducible from its seed. Sections of
// docs/REFERENCE.md are cited as "REFERENCE: <section>", equations of the paper
// (Li, Chen, Sommer, Entropy 2023) as "paper eq. N".
package sampling
