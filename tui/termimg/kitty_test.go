package termimg

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/png"
	"regexp"
	"testing"
)

func TestEncodeKitty(t *testing.T) {
	for _, size := range []int{1, 8, 200} { // 200x200 noise spans several chunks
		img := greyGrid(size, size)
		b, err := EncodeKitty(img, 42)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile("\x1b_G([^;]*);([^\x1b]*)\x1b\\\\")
		parts := re.FindAllSubmatch(b, -1)
		if len(parts) == 0 || len(bytes.Join(re.FindAll(b, -1), nil)) != len(b) {
			t.Fatalf("size %d: output is not a run of APC G sequences", size)
		}
		var data []byte
		for i, p := range parts {
			keys, payload := string(p[1]), p[2]
			last := i == len(parts)-1
			switch {
			case i == 0 && !bytes.HasPrefix(p[1], []byte("a=t,f=100,i=42,q=2,")):
				t.Errorf("first chunk keys %q", keys)
			case last && !bytes.HasSuffix(p[1], []byte("m=0")):
				t.Errorf("last chunk keys %q", keys)
			case !last && !bytes.HasSuffix(p[1], []byte("m=1")):
				t.Errorf("chunk %d keys %q", i, keys)
			}
			if len(payload) > 4096 || (!last && len(payload) != 4096) {
				t.Errorf("chunk %d has %d bytes", i, len(payload))
			}
			data = append(data, payload...)
		}
		raw, err := base64.StdEncoding.DecodeString(string(data))
		if err != nil {
			t.Fatal(err)
		}
		dec, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		g := dec.(*image.Gray)
		if !bytes.Equal(g.Pix, img.Pix) {
			t.Errorf("size %d: PNG payload differs from the image", size)
		}
	}
	if _, err := EncodeKitty(nil, 1); err == nil {
		t.Error("nil image: no error")
	}
	if _, err := EncodeKitty(greyGrid(2, 2), 0); err == nil {
		t.Error("image id 0: no error")
	}
	for _, n := range []uint64{0, 1, MaxKittyID - 1, MaxKittyID, 1 << 40} {
		if id := KittyID(n); id == 0 || id > MaxKittyID {
			t.Errorf("KittyID(%d) = %d", n, id)
		}
	}
}
