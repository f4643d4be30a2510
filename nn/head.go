package nn

// The quadratic head reads the flattened final feature map h (n = C*S*S per sample, in
// PyTorch's (c, y, x) order) from channel-major storage: feature j = c*P + p of sample b
// is h[(c*N + b)*P + p], P = S*S.
//
//	E = u*w + sum_j d_j h_j^2 + b3,  u = a.h + b1,  w = c.h + b2   (docs/REFERENCE.md "Energy network")

// headEnergy writes E for every sample and keeps u and w for the backward passes.
func (m *Model[T]) headEnergy(e []T) {
	h, hd := m.lastOut(), &m.head
	n, C, P := m.n, m.cfg.FinalChannels(), m.cfg.FinalSize()*m.cfg.FinalSize()
	for b := 0; b < n; b++ {
		u, w, q := float64(hd.b1[0]), float64(hd.b2[0]), 0.0
		for c := 0; c < C; c++ {
			hs := h[(c*n+b)*P : (c*n+b+1)*P]
			a, cc, d := hd.a[c*P:(c+1)*P], hd.c[c*P:(c+1)*P], hd.d[c*P:(c+1)*P]
			for p, v := range hs {
				fv := float64(v)
				u += float64(a[p]) * fv
				w += float64(cc[p]) * fv
				q += float64(d[p]) * fv * fv
			}
		}
		hd.u[b], hd.w[b] = T(u), T(w)
		e[b] = T(u*w + q + float64(hd.b3[0]))
	}
}

// headInputGrad writes dE/dh = a*w + c*u + 2 d*h for every sample into g.
func (m *Model[T]) headInputGrad(h, g []T) {
	hd := &m.head
	n, C, P := m.n, m.cfg.FinalChannels(), m.cfg.FinalSize()*m.cfg.FinalSize()
	for c := 0; c < C; c++ {
		a, cc, d := hd.a[c*P:(c+1)*P], hd.c[c*P:(c+1)*P], hd.d[c*P:(c+1)*P]
		for b := 0; b < n; b++ {
			off := (c*n + b) * P
			u, w := hd.u[b], hd.w[b]
			for p := 0; p < P; p++ {
				g[off+p] = a[p]*w + cc[p]*u + 2*d[p]*h[off+p]
			}
		}
	}
}

// headTangentBackward differentiates S = sum_b Edot_b, the head's tangent
//
//	Edot = udot*w + u*wdot + 2 sum_j d_j h_j hdot_j,  udot = a.hdot,  wdot = c.hdot,
//
// writing the primal adjoint dS/dh into gP and accumulating the head's weight gradients. The
// tangent adjoint dS/dhdot equals dE/dh, which the energy's reverse pass kept (backward.go).
func (m *Model[T]) headTangentBackward(h, hdot, gP []T) {
	hd := &m.head
	n, C, P := m.n, m.cfg.FinalChannels(), m.cfg.FinalSize()*m.cfg.FinalSize()
	var sumUd, sumWd float64
	for b := 0; b < n; b++ {
		ud, wd := 0.0, 0.0
		for c := 0; c < C; c++ {
			hs := hdot[(c*n+b)*P : (c*n+b+1)*P]
			a, cc := hd.a[c*P:(c+1)*P], hd.c[c*P:(c+1)*P]
			for p, v := range hs {
				ud += float64(a[p]) * float64(v)
				wd += float64(cc[p]) * float64(v)
			}
		}
		hd.ud[b], hd.wd[b] = T(ud), T(wd)
		sumUd += ud
		sumWd += wd
	}
	hd.gb1[0] += T(sumWd)
	hd.gb2[0] += T(sumUd)
	for c := 0; c < C; c++ {
		a, cc, d := hd.a[c*P:(c+1)*P], hd.c[c*P:(c+1)*P], hd.d[c*P:(c+1)*P]
		ga, gc, gd := hd.ga[c*P:(c+1)*P], hd.gc[c*P:(c+1)*P], hd.gd[c*P:(c+1)*P]
		for b := 0; b < n; b++ {
			off := (c*n + b) * P
			u, w, ud, wd := hd.u[b], hd.w[b], hd.ud[b], hd.wd[b]
			for p := 0; p < P; p++ {
				hv, hdv := h[off+p], hdot[off+p]
				gP[off+p] = a[p]*wd + cc[p]*ud + 2*d[p]*hdv
				ga[p] += hdv*w + hv*wd
				gc[p] += ud*hv + u*hdv
				gd[p] += 2 * hv * hdv
			}
		}
	}
}
