package sampling

import (
	"context"
	"image"
	"image/color"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func maskString(m Mask) string {
	var b strings.Builder
	for y := range m.H {
		for x := range m.W {
			if m.Free[y*m.W+x] {
				b.WriteByte('#')
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteByte('/')
	}
	return b.String()
}

func TestMasks(t *testing.T) {
	cases := []struct {
		spec string
		h, w int
		want string
	}{
		{"center:2", 4, 4, "..../.##./.##./..../"},
		{"center", 4, 5, "...../.##../.##../...../"}, // size min/2 = 2, offset (1, 1)
		{"left", 2, 5, "##.../##.../"},
		{"right", 2, 5, "...##/...##/"},
		{"top", 3, 2, "##/../../"},
		{"bottom", 3, 2, "../../##/"},
	}
	for _, c := range cases {
		m, err := ParseMask(c.spec, c.h, c.w, 1)
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		if got := maskString(m); got != c.want {
			t.Errorf("%s: %s, want %s", c.spec, got, c.want)
		}
	}
	r1, _ := RandomMask(10, 10, 0.3, 4)
	r2, _ := RandomMask(10, 10, 0.3, 4)
	r3, _ := RandomMask(10, 10, 0.3, 5)
	if r1.FreeCount() != 30 || !reflect.DeepEqual(r1, r2) || reflect.DeepEqual(r1, r3) {
		t.Errorf("random mask: %d free, reproducible %v, seed-dependent %v", r1.FreeCount(), reflect.DeepEqual(r1, r2), !reflect.DeepEqual(r1, r3))
	}
	for _, spec := range []string{"center:0", "center:9", "random:1.5", "random:x", "diagonal", "left:3", "png:", "png:/nonexistent/m.png"} {
		if _, err := ParseMask(spec, 8, 8, 1); err == nil {
			t.Errorf("ParseMask(%q) accepted", spec)
		}
	}
	if _, err := CenterSquareMask(0, 4, 1); err == nil {
		t.Error("0x4 mask accepted")
	}
}

func TestMaskPNG(t *testing.T) {
	m, _ := HalfMask(4, 4, "right")
	path := filepath.Join(t.TempDir(), "mask.png")
	if err := WritePNG(path, m.Image()); err != nil {
		t.Fatal(err)
	}
	got, err := MaskFromPNG(path, 4, 4)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("png round trip: %s, %v", maskString(got), err)
	}
	// resampled to a larger grid by nearest neighbour
	big, _ := MaskFromPNG(path, 8, 8)
	want, _ := HalfMask(8, 8, "right")
	if !reflect.DeepEqual(big, want) {
		t.Errorf("resampled %s", maskString(big))
	}
	// white = free on an RGBA image, grey threshold at half scale
	img := image.NewRGBA(image.Rect(0, 0, 2, 1))
	img.Set(0, 0, color.RGBA{255, 255, 255, 255})
	img.Set(1, 0, color.RGBA{100, 100, 100, 255})
	mi, _ := MaskFromImage(img, 1, 2)
	if !mi.Free[0] || mi.Free[1] {
		t.Errorf("MaskFromImage: %v", mi.Free)
	}
}

func TestMaskedMSE(t *testing.T) {
	m := Mask{H: 1, W: 2, Free: []bool{true, false}}
	a := []float32{1, 5, 2, 7, 0, 0, 0, 0} // 2 images x 2 channels x 1x2
	b := []float32{0, 0, 0, 0, 3, 9, 0, 9}
	per, mean, err := MaskedMSE(a, b, 2, 2, m)
	// image 0: free pixel 0 in both channels: (1^2 + 2^2)/2 = 2.5; image 1: (9 + 0)/2 = 4.5
	if err != nil || !reflect.DeepEqual(per, []float64{2.5, 4.5}) || mean != 3.5 {
		t.Errorf("MaskedMSE = %v, %v, %v", per, mean, err)
	}
	if _, _, err := MaskedMSE(a, b, 2, 2, Mask{H: 1, W: 2, Free: []bool{false, false}}); err == nil {
		t.Error("mask without free pixels accepted")
	}
}

// TestInpaintClampedUntouched runs a hot, short inpainting chain and checks that clamped pixels
// are bit-exact truth in the state and in the denoised output while free pixels moved.
func TestInpaintClampedUntouched(t *testing.T) {
	const c, h, w, n = 3, 6, 6, 2
	g := mustGaussian(t, c*h*w, 0.5, 0.2, 0)
	truth := g.Sample(n, 3)
	m, _ := CenterSquareMask(h, w, 3)
	cfg := DefaultInpaintConfig()
	cfg.Langevin.Schedule = Schedule{Kind: KindExp, Steps: 50, T0: 100}
	cfg.Langevin.Eps = 0.05
	for _, mode := range []string{ClampNoiseSqrt, ClampNoiseQuarter, ClampNoiseNone} {
		cfg.ClampNoise = mode
		ch, err := NewInpaintChain(g, truth, n, c, m, cfg, 11)
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		for name, x := range map[string][]float32{"Images": ch.Images(), "Denoised": ch.Denoised()} {
			moved := 0
			for i := range x {
				free := m.Free[i%(h*w)]
				if !free && x[i] != truth[i] {
					t.Fatalf("%s %s: clamped value %d = %v, truth %v", mode, name, i, x[i], truth[i])
				}
				if free && x[i] != truth[i] {
					moved++
				}
			}
			if moved != n*c*9 {
				t.Errorf("%s %s: %d of %d free values moved", mode, name, moved, n*c*9)
			}
		}
	}
}

// TestInpaintClampNoise records the network inputs and checks the noise on clamped pixels:
// std sigma0 sqrt(T) (default), sigma0 T^(1/4) (reference code), or none; free pixels are fed
// as the current state.
func TestInpaintClampNoise(t *testing.T) {
	const h, w, n = 16, 16, 4
	const temp, sigma0 = 25.0, 0.1
	cases := []struct {
		mode string
		want float64
	}{
		{"", sigma0 * 5},
		{ClampNoiseSqrt, sigma0 * 5},
		{ClampNoiseQuarter, sigma0 * math.Sqrt(5)},
		{ClampNoiseNone, 0},
	}
	truth := make([]float32, n*h*w)
	for i := range truth {
		truth[i] = float32(i%7) / 7
	}
	m, _ := HalfMask(h, w, "left")
	for _, c := range cases {
		var inputs [][]float32
		spy := &hookEnergy{inner: mustGaussian(t, h*w, 0.5, 1, 0), hook: func(x []float32, _ int) {
			inputs = append(inputs, append([]float32(nil), x...))
		}}
		cfg := InpaintConfig{Langevin: LangevinConfig{Schedule: Schedule{Kind: KindConst, Steps: 1, T0: temp}, Eps: 0.02, Sigma0: sigma0, InitMean: 0.5, InitStd: 1}, ClampNoise: c.mode}
		ch, err := NewInpaintChain(spy, truth, n, 1, m, cfg, 2)
		if err != nil {
			t.Fatal(err)
		}
		x0 := ch.Images()
		if err := ch.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		in := inputs[0]
		var res []float32
		for i := range in {
			if m.Free[i%(h*w)] {
				if in[i] != x0[i] {
					t.Fatalf("%s: free input %d = %v, state %v", c.mode, i, in[i], x0[i])
				}
			} else {
				res = append(res, in[i]-truth[i])
			}
		}
		mean, v := meanVar(res)
		if sd := math.Sqrt(v); math.Abs(sd-c.want) > 0.12*c.want+1e-7 || math.Abs(mean) > 0.2*c.want+1e-7 {
			t.Errorf("%q: clamped noise mean %.4f sd %.4f, want sd %.4f", c.mode, mean, sd, c.want)
		}
	}
}

func TestInpaintValidation(t *testing.T) {
	g := mustGaussian(t, 16, 0, 1, 0)
	m, _ := CenterSquareMask(4, 4, 2)
	cfg := DefaultInpaintConfig()
	truth := make([]float32, 16)
	if _, err := NewInpaintChain(g, truth[:15], 1, 1, m, cfg, 1); err == nil {
		t.Error("short truth accepted")
	}
	if _, err := NewInpaintChain(g, truth, 1, 1, Mask{H: 4, W: 4, Free: make([]bool, 16)}, cfg, 1); err == nil {
		t.Error("mask with no free pixels accepted")
	}
	cfg.ClampNoise = "loud"
	if _, err := NewInpaintChain(g, truth, 1, 1, m, cfg, 1); err == nil {
		t.Error("unknown clamp noise accepted")
	}
}
