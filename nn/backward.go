package nn

// Two reverse passes run through a block.
//
// backwardEnergy propagates the energy's adjoint Ebar = dE/d(out) to the block input: the
// pass behind dE/dx. backwardTrain differentiates S(theta) = sum_i v_i . dE/dx_i (the
// tangent formulation of docs/GORGONIA.md) through the primal and the tangent activations. Its
// tangent adjoints dS/d(hdot) equal the energy's adjoints dE/dh at every layer (the tangent
// map is the same linear map as the forward Jacobian), so the training pass does not
// recompute them: backwardEnergy keeps them (gout, a1bar, a2bar) when the model trains, and
// backwardTrain only propagates the second-order primal adjoints dS/dh. That saves the
// three data-adjoint GEMMs (and two col2im) per block that a naive tangent backward repeats:
// one of the seven forward-equivalents of a training step.

// backwardEnergy propagates gOut to the block input, returned in pi; pz and pa are the
// model's scratch (Config.scratchSizes). With keep it stores the
// energy's adjoints at the block output and at a2 and a1 (before the ELU derivative) for
// backwardTrain.
func (b *block[T]) backwardEnergy(n int, col, gOut, pi, pz, pa []T, keep bool) []T {
	bs := b.spec
	s, sz := bs.size, bs.size*bs.size
	inLen := n * bs.cin * sz
	gIn := pi[:inLen]
	if keep && b.gout != nil {
		copy(b.gout, gOut)
	}

	// Shortcut: out += skip([pool] in).
	if bs.down {
		sbar := pa[:n*bs.cin*sz/4]
		b.skip.backwardData(gOut, n, s/2, sbar, nil)
		meanUnpool(sbar, bs.cin*n, s, gIn, false)
	} else {
		b.skip.backwardData(gOut, n, s, gIn, nil)
	}

	// Main path: out += [pool] c2(a2).
	z2bar := gOut
	if bs.down {
		z2bar = pz[:n*bs.cout*sz]
		meanUnpool(gOut, bs.cout*n, s, z2bar, false)
	}
	a2 := b.a2[:inLen]
	a2bar := pa[:inLen]
	b.c2.backwardData(z2bar, n, s, a2bar, col)
	if keep {
		copy(b.a2bar, a2bar)
	}
	eluBackward(a2, a2bar) // now the adjoint of z1 = c1(a1)
	a1bar := pz[:inLen]
	b.c1.backwardData(a2bar, n, s, a1bar, col)
	if keep {
		copy(b.a1bar, a1bar)
	}
	eluBackward(b.a1(pa, n), a1bar) // now the adjoint of the block input (a2bar is spent)
	addInto(gIn, a1bar)
	return gIn
}

// backwardTrain propagates the primal adjoint gOut = dS/d(out) to the block input (returned
// in pi) and accumulates weight gradients; for a conv y = W*x (+b), ydot = W*xdot:
//
//	dW += ybar x^T + ydotbar xdot^T,  db += sum ybar,
//
// with the tangent adjoints ydotbar taken from what backwardEnergy kept (gOutT, the one at
// the block output, is b.gout or, for the last block, Model.headAdjoint). pz and pa are the
// model's scratch (Config.scratchSizes): each adjoint is written where the one before it is
// dead. pi and po are the two halves of adj, one buffer: po holds gOut, and takes the
// recomputed a1 once gOut is spent; a down block writes its unpooled z2 tangent adjoint
// across both halves, between gOut's last read and gIn's first write.
func (b *block[T]) backwardTrain(n int, col, gOut, gOutT, pi, pz, pa, po, adj []T) []T {
	bs := b.spec
	s, sz := bs.size, bs.size*bs.size
	inLen := n * bs.cin * sz
	gIn := pi[:inLen]
	a2 := b.a2[:inLen]
	a1d, a2d := b.a1d[:inLen], b.a2d[:inLen]

	// out = [pool] c2(a2) + skip([pool] in): the shortcut's and c2's weight gradients, the
	// shortcut's input adjoint into gIn.
	z2bar := gOut
	if bs.down {
		pooled := n * bs.cin * sz / 4
		b.skip.backwardWeights(b.pooledIn(pz, n), gOut, b.sd[:pooled], gOutT, n, s/2, nil)
		z2bar = pz[:n*bs.cout*sz] // the pooled input is spent
		meanUnpool(gOut, bs.cout*n, s, z2bar, false)
		sbar := pa[:pooled]
		b.skip.backwardData(gOut, n, s/2, sbar, nil)
		z2barT := adj[:n*bs.cout*sz] // gOut is spent, gIn not yet written
		meanUnpool(gOutT, bs.cout*n, s, z2barT, false)
		b.c2.backwardWeights(a2, z2bar, a2d, z2barT, n, s, col)
		meanUnpool(sbar, bs.cin*n, s, gIn, false) // z2barT is spent
	} else {
		b.skip.backwardWeights(b.in, gOut, b.ind, gOutT, n, s, nil)
		b.skip.backwardData(gOut, n, s, gIn, nil)
		b.c2.backwardWeights(a2, gOut, a2d, gOutT, n, s, col)
	}

	// Main path: the data adjoint of c2, then c1.
	a2bar := pa[:inLen] // sbar is spent
	b.c2.backwardData(z2bar, n, s, a2bar, col)
	z1barT := pz[:inLen]                                       // z2bar is spent
	eluBackwardSecond(a2, a2bar, a2d, b.a2bar[:inLen], z1barT) // adjoints of z1 = c1(a1)
	a1 := b.a1(po, n)                                          // gOut is spent
	b.c1.backwardWeights(a1, a2bar, a1d, z1barT, n, s, col)
	a1bar := pz[:inLen] // z1barT is spent
	b.c1.backwardData(a2bar, n, s, a1bar, col)
	eluBackwardSecond(a1, a1bar, a1d, b.a1bar[:inLen], nil) // adjoint of the block input
	addInto(gIn, a1bar)
	return gIn
}
