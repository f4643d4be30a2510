package nn

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"mdsm/internal/safefile"
)

// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length
// N, N bytes of JSON mapping each tensor name to {"dtype", "shape", "data_offsets"} (offsets
// relative to the end of the header) plus an optional "__metadata__" string map, then the
// raw little-endian data. PyTorch users load it with safetensors.torch.load_file.

// maxHeader bounds the JSON header so that a lying length cannot make us allocate much.
const maxHeader = 100 << 20

type stEntry struct {
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// WriteSafetensors writes float32 tensors, in the order of names, with string metadata.
func WriteSafetensors(w io.Writer, names []string, tensors map[string]*Tensor[float32], meta map[string]string) error {
	header := make(map[string]any, len(names)+1)
	off := 0
	for _, n := range names {
		t, ok := tensors[n]
		if !ok {
			return fmt.Errorf("safetensors: no tensor %q", n)
		}
		size := 4 * len(t.Data)
		header[n] = stEntry{DType: "F32", Shape: t.Shape, Offsets: [2]int{off, off + size}}
		off += size
	}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors header: %w", err)
	}
	for len(hj)%8 != 0 { // the format pads the header with spaces to 8-byte alignment
		hj = append(hj, ' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hj)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(hj); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, n := range names {
		for _, v := range tensors[n].Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) >= 1<<16-4 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	_, err = w.Write(buf)
	return err
}

// ReadSafetensors reads every F32 tensor of a safetensors file. Sizes are checked against
// the file length before anything is allocated, so a corrupt or truncated file is an error
// naming the path, never a crash.
func ReadSafetensors(path string) (map[string]*Tensor[float32], map[string]string, error) {
	f, st, err := safefile.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open checkpoint: %w", err)
	}
	defer f.Close()
	ts, meta, err := decodeSafetensors(f, st.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w (the file is damaged or not a safetensors file; use an earlier checkpoint)", path, err)
	}
	return ts, meta, nil
}

// decodeSafetensors parses a safetensors stream of the given total size.
func decodeSafetensors(r io.Reader, size int64) (map[string]*Tensor[float32], map[string]string, error) {
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, nil, fmt.Errorf("header length: %w", err)
	}
	hl := binary.LittleEndian.Uint64(lenBuf[:])
	if hl > maxHeader || int64(hl) > size-8 {
		return nil, nil, fmt.Errorf("header length %d does not fit a %d-byte file", hl, size)
	}
	hj := make([]byte, hl)
	if _, err := io.ReadFull(r, hj); err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hj, &raw); err != nil {
		return nil, nil, fmt.Errorf("header JSON: %w", err)
	}
	dataLen := size - 8 - int64(hl)
	var meta map[string]string
	type named struct {
		name string
		e    stEntry
	}
	var entries []named
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &meta); err != nil {
				return nil, nil, fmt.Errorf("metadata: %w", err)
			}
			continue
		}
		var e stEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, nil, fmt.Errorf("tensor %s: %w", name, err)
		}
		if e.DType != "F32" {
			return nil, nil, fmt.Errorf("tensor %s has dtype %s; only F32 is supported", name, e.DType)
		}
		count := int64(1)
		for _, d := range e.Shape {
			if d < 0 || d > 1<<31 {
				return nil, nil, fmt.Errorf("tensor %s: bad shape %v", name, e.Shape)
			}
			count *= int64(d)
			if count > dataLen {
				return nil, nil, fmt.Errorf("tensor %s: shape %v larger than the file", name, e.Shape)
			}
		}
		// each bound on its own first: the difference of two lying offsets can overflow
		if e.Offsets[0] < 0 || e.Offsets[1] < e.Offsets[0] || int64(e.Offsets[1]) > dataLen || int64(e.Offsets[1]-e.Offsets[0]) != 4*count {
			return nil, nil, fmt.Errorf("tensor %s: offsets %v do not match shape %v in %d data bytes (truncated?)", name, e.Offsets, e.Shape, dataLen)
		}
		entries = append(entries, named{name, e})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].e.Offsets[0] < entries[j].e.Offsets[0] })
	data := make([]byte, dataLen)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, nil, fmt.Errorf("tensor data: %w", err)
	}
	out := make(map[string]*Tensor[float32], len(entries))
	for _, ne := range entries {
		b := data[ne.e.Offsets[0]:ne.e.Offsets[1]]
		t := &Tensor[float32]{Shape: ne.e.Shape, Data: make([]float32, len(b)/4)}
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		out[ne.name] = t
	}
	return out, meta, nil
}

// SaveParams writes the parameters as a safetensors file (atomically), with the network
// configuration in the metadata under "config".
func SaveParams(path string, p *Params[float32], meta map[string]string) error {
	m := map[string]string{}
	for k, v := range meta {
		m[k] = v
	}
	cj, err := json.Marshal(p.Config)
	if err != nil {
		return err
	}
	m["config"] = string(cj)
	m["format"] = "mdsm-energy-v1"
	return safefile.WriteAtomic(path, func(w io.Writer) error { return WriteSafetensors(w, p.Names, p.T, m) })
}

// LoadParams reads a parameter file written by SaveParams. The configuration comes from its
// metadata; every tensor the configuration needs must be present with the right shape, and
// every value finite (a NaN checkpoint is as unusable as a damaged one). Nothing is
// allocated from the configuration's claims: the tensors come from the file's own data.
func LoadParams(path string) (*Params[float32], map[string]string, error) {
	ts, meta, err := ReadSafetensors(path)
	if err != nil {
		return nil, nil, err
	}
	p, err := paramsFromSafetensors(ts, meta, path)
	return p, meta, err
}

// paramsFromSafetensors checks decoded tensors against the configuration in their metadata;
// path is used in errors.
func paramsFromSafetensors(ts map[string]*Tensor[float32], meta map[string]string, path string) (*Params[float32], error) {
	var cfg Config
	if err := json.Unmarshal([]byte(meta["config"]), &cfg); err != nil {
		return nil, fmt.Errorf("read %s: no network configuration in its metadata (%v); was it written by mdsm?", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	p, err := ParamsFromTensors(cfg, ts)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := p.CheckFinite(); err != nil {
		return nil, fmt.Errorf("read %s: the weights are not finite (%w): the checkpoint is unusable; use an earlier one", path, err)
	}
	return p, nil
}

// ParamsFromTensors checks a tensor map against a configuration and copies it into new
// Params (one backing array, Params.Flat). A missing or misshapen tensor is an error naming
// it. Every tensor is checked before anything is allocated, so a configuration that claims
// a far larger network than the tensors hold costs no memory: the Params allocated are
// exactly as large as the tensors given.
func ParamsFromTensors(cfg Config, ts map[string]*Tensor[float32]) (*Params[float32], error) {
	specs := cfg.ParamSpecs()
	var errs []error
	for _, s := range specs {
		t, ok := ts[s.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("tensor %s is missing", s.Name))
			continue
		}
		if !equalShape(t.Shape, s.Shape) || len(t.Data) != numel(s.Shape) {
			errs = append(errs, fmt.Errorf("tensor %s has shape %v, the %s network needs %v", s.Name, t.Shape, cfg.Preset, s.Shape))
		}
	}
	if len(errs) > 10 { // a wrong configuration misses every tensor: name the first few
		errs = append(errs[:10], fmt.Errorf("and %d more", len(errs)-10))
	}
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("checkpoint does not match the configuration (wrong preset?): %s", strings.Join(msgs, "; "))
	}
	p := NewParams[float32](cfg)
	for _, s := range specs {
		copy(p.T[s.Name].Data, ts[s.Name].Data)
	}
	return p, nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
