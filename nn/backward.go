package nn

// backward propagates the output adjoint gOut of one block to its input. pi, pz, pa (and
// ti, tz, ta for tangent adjoints) are scratch buffers at least as large as any activation
// of the block; the input adjoint is returned in pi (and ti). With train set it also
// propagates the tangent adjoint gOutT and accumulates weight gradients:
// for a conv y = W*x (+b), ydot = W*xdot:  dW += ybar x^T + ydotbar xdot^T, db += sum ybar.
func (b *block[T]) backward(n int, col, gOut, gOutT, pi, pz, pa, ti, tz, ta []T, train bool) []T {
	bs := b.spec
	s, sz := bs.size, bs.size*bs.size
	inLen := n * bs.cin * sz
	gIn := pi[:inLen]
	var gInT []T
	if train {
		gInT = ti[:inLen]
	}

	// Shortcut: out += skip([pool] in).
	if bs.down {
		pooled := n * bs.cin * sz / 4
		if train {
			b.skip.backwardWeights(b.s[:pooled], gOut, n, s/2, nil, true)
			b.skip.backwardWeights(b.sd[:pooled], gOutT, n, s/2, nil, false)
		}
		sbar := pa[:pooled]
		b.skip.backwardData(gOut, n, s/2, sbar, nil)
		meanUnpool(sbar, bs.cin*n, s, gIn, false)
		if train {
			sbarT := ta[:pooled]
			b.skip.backwardData(gOutT, n, s/2, sbarT, nil)
			meanUnpool(sbarT, bs.cin*n, s, gInT, false)
		}
	} else {
		if train {
			b.skip.backwardWeights(b.in, gOut, n, s, nil, true)
			b.skip.backwardWeights(b.ind, gOutT, n, s, nil, false)
		}
		b.skip.backwardData(gOut, n, s, gIn, nil)
		if train {
			b.skip.backwardData(gOutT, n, s, gInT, nil)
		}
	}

	// Main path: out += [pool] c2(a2).
	z2bar, z2barT := gOut, gOutT
	if bs.down {
		z2bar = pz[:n*bs.cout*sz]
		meanUnpool(gOut, bs.cout*n, s, z2bar, false)
		if train {
			z2barT = tz[:n*bs.cout*sz]
			meanUnpool(gOutT, bs.cout*n, s, z2barT, false)
		}
	}
	a1, a2 := b.a1[:inLen], b.a2[:inLen]
	var a1d, a2d, a2barT, a1barT []T
	if train {
		a1d, a2d = b.a1d[:inLen], b.a2d[:inLen]
		b.c2.backwardWeights(a2, z2bar, n, s, col, true)
		b.c2.backwardWeights(a2d, z2barT, n, s, col, false)
	}
	a2bar := pa[:inLen]
	b.c2.backwardData(z2bar, n, s, a2bar, col)
	if train {
		a2barT = ta[:inLen]
		b.c2.backwardData(z2barT, n, s, a2barT, col)
	}
	eluBackward(a2, a2bar, a2d, a2barT) // now the adjoints of z1 = c1(a1)
	if train {
		b.c1.backwardWeights(a1, a2bar, n, s, col, false)
		b.c1.backwardWeights(a1d, a2barT, n, s, col, false)
	}
	a1bar := pz[:inLen]
	b.c1.backwardData(a2bar, n, s, a1bar, col)
	if train {
		a1barT = tz[:inLen]
		b.c1.backwardData(a2barT, n, s, a1barT, col)
	}
	eluBackward(a1, a1bar, a1d, a1barT) // now the adjoints of the block input
	addInto(gIn, a1bar)
	if train {
		addInto(gInT, a1barT)
	}
	return gIn
}
