package data

import (
	"fmt"
	"math/rand/v2"
)

// Batcher draws shuffled mini-batches from a Dataset, epoch after epoch, from a seeded PCG
// generator. Each epoch is a fresh permutation of all N images; a batch that reaches the end of
// an epoch continues into the next one, so every batch is full and every image is used exactly
// once per epoch. Its position and generator state can be saved (State) and restored
// (Restore), so a resumed training run draws exactly the batches an uninterrupted run would
// have drawn. Not safe for concurrent use.
type Batcher struct {
	ds    *Dataset
	size  int
	seeds [2]uint64
	pcg   *rand.PCG
	rng   *rand.Rand
	// epochRNG is the PCG state just before the current epoch's permutation was drawn: the
	// permutation is a function of it alone, which keeps the saved state small.
	epochRNG []byte
	perm     []int
	epoch    int
	pos      int
}

// BatcherState is the JSON-serialisable position of a Batcher: saved with a checkpoint and
// handed to Restore on resume.
type BatcherState struct {
	// Seed1 is the first PCG seed the Batcher was created with (for the record).
	Seed1 uint64 `json:"seed1"`
	// Seed2 is the second PCG seed.
	Seed2 uint64 `json:"seed2"`
	// N is the dataset size; Restore refuses a dataset of a different size.
	N int `json:"n"`
	// BatchSize is the batch size at the time of saving (for the record).
	BatchSize int `json:"batch_size"`
	// Epoch counts completed passes over the data.
	Epoch int `json:"epoch"`
	// Pos is the next index into the current epoch's permutation.
	Pos int `json:"pos"`
	// RNG is the PCG state (encoding.BinaryMarshaler form, base64 in JSON) from just before the
	// current epoch's permutation was drawn.
	RNG []byte `json:"rng"`
}

// NewBatcher returns a Batcher over ds drawing batchSize images per batch, shuffled by a PCG
// generator seeded with (seed1, seed2). The same seeds give the same batches.
func NewBatcher(ds *Dataset, batchSize int, seed1, seed2 uint64) (*Batcher, error) {
	if ds == nil || ds.N < 1 {
		return nil, fmt.Errorf("batcher: empty dataset")
	}
	if batchSize < 1 {
		return nil, fmt.Errorf("batcher: batch size %d, want >= 1", batchSize)
	}
	b := &Batcher{ds: ds, size: batchSize, seeds: [2]uint64{seed1, seed2}, pcg: rand.NewPCG(seed1, seed2), perm: make([]int, ds.N)}
	b.rng = rand.New(b.pcg)
	b.shuffle()
	return b, nil
}

// shuffle records the generator state and draws the current epoch's permutation from the
// identity, so it depends on that state only.
func (b *Batcher) shuffle() {
	b.epochRNG, _ = b.pcg.MarshalBinary() // PCG.MarshalBinary never fails
	for i := range b.perm {
		b.perm[i] = i
	}
	b.rng.Shuffle(len(b.perm), func(i, j int) { b.perm[i], b.perm[j] = b.perm[j], b.perm[i] })
}

// BatchSize returns the number of images per batch.
func (b *Batcher) BatchSize() int { return b.size }

// Epoch returns the number of completed passes over the dataset.
func (b *Batcher) Epoch() int { return b.epoch }

// Next copies the next batch into dst (BatchSize()*Dim() values, NCHW) and returns the dataset
// indices of its images (a new slice; use them to look up labels). dst is caller-owned; it
// panics if dst is shorter than BatchSize()*Dim(), a programming error.
func (b *Batcher) Next(dst []float32) []int {
	dim := b.ds.Dim()
	if len(dst) < b.size*dim {
		panic(fmt.Sprintf("data.Batcher.Next: dst has %d values, need %d (batch %d x %d)", len(dst), b.size*dim, b.size, dim))
	}
	idx := make([]int, b.size)
	for k := range idx {
		if b.pos == len(b.perm) {
			b.epoch++
			b.pos = 0
			b.shuffle()
		}
		i := b.perm[b.pos]
		b.pos++
		idx[k] = i
		copy(dst[k*dim:(k+1)*dim], b.ds.Image(i))
	}
	return idx
}

// State returns the Batcher's position and generator state for saving.
func (b *Batcher) State() BatcherState {
	return BatcherState{Seed1: b.seeds[0], Seed2: b.seeds[1], N: b.ds.N, BatchSize: b.size,
		Epoch: b.epoch, Pos: b.pos, RNG: append([]byte(nil), b.epochRNG...)}
}

// Restore puts the Batcher at a saved position, so the following batches are the ones the
// saving Batcher would have drawn next. The dataset must have the same N; a different batch
// size is allowed (batches are then cut differently from the same image sequence).
func (b *Batcher) Restore(s BatcherState) error {
	if s.N != b.ds.N {
		return fmt.Errorf("batcher: saved state is for %d images, the dataset has %d (was the dataset changed?)", s.N, b.ds.N)
	}
	if s.Pos < 0 || s.Pos > s.N || s.Epoch < 0 {
		return fmt.Errorf("batcher: saved state has invalid position epoch %d pos %d", s.Epoch, s.Pos)
	}
	pcg := new(rand.PCG)
	if err := pcg.UnmarshalBinary(s.RNG); err != nil {
		return fmt.Errorf("batcher: saved RNG state: %w", err)
	}
	b.pcg = pcg
	b.rng = rand.New(pcg)
	b.seeds = [2]uint64{s.Seed1, s.Seed2}
	b.shuffle()
	b.epoch, b.pos = s.Epoch, s.Pos
	return nil
}
