package gpu

import (
	"os"
	"strings"
)

// GraphsEnv is the switch of CUDA graphs: MDSM_CUDA_GRAPHS=1 captures the work of a
// training step's gradient and of a Langevin step once and replays it as one graph
// launch, instead of enqueueing its 50-150 kernel and cuDNN launches one by one (what
// dominates the small nets' steps). Off by default until it has been measured on a GPU
// (scripts/gpu_check.sh compares the two).
const GraphsEnv = "MDSM_CUDA_GRAPHS"

// graphsWanted reads GraphsEnv: 1, on, true or yes turn graphs on.
func graphsWanted() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(GraphsEnv))) {
	case "1", "on", "true", "yes":
		return true
	}
	return false
}

// replayKey is what a captured graph depends on besides the device's epoch: the batch
// (and micro-batch) it was captured for and the net's buffer generation.
type replayKey struct{ n, micro, net int }

// replay runs one piece of device work (f) either directly or, with graphs on, as a
// captured graph: the first run for a key runs directly (it creates the convolutions
// and sizes the shared workspace, which must not happen while capturing), the second
// captures f and launches the graph, later runs only launch it. A capture the device
// refuses turns graphs off for this piece and runs f directly; a key or epoch change
// captures again.
type replay struct {
	g      graph
	key    replayKey
	epoch  int
	warm   bool
	broken error // why capturing failed
}

func (r *replay) run(d device, key replayKey, f func() error) error {
	if !d.graphsOn() || r.broken != nil {
		return f()
	}
	ep := d.epoch()
	if r.g != nil && r.key == key && r.epoch == ep {
		return r.g.launch()
	}
	r.release()
	if !r.warm || r.key != key || r.epoch != ep {
		r.warm, r.key = true, key
		err := f()
		r.epoch = d.epoch()
		return err
	}
	g, err := d.capture(f)
	if err != nil { // nothing of f ran
		r.broken = err
		d.noteGraphs(err)
		return f()
	}
	if d.epoch() != ep { // f replaced memory while capturing: the graph is stale
		g.destroy()
		r.epoch = d.epoch()
		return f()
	}
	r.g = g
	return g.launch()
}

// release destroys the captured graph.
func (r *replay) release() {
	if r.g != nil {
		r.g.destroy()
		r.g = nil
	}
}
