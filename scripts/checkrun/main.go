// Command checkrun checks that an mdsm run directory is resumable, for
// scripts/kill_loop.sh: the newest checkpoint loads (a damaged newer one is reported as
// skipped), its weights are finite, and every complete line of metrics.jsonl parses. It
// prints "step=N skipped=K metrics=M" (step 0: no checkpoint yet, the run restarts) and
// exits 1 with the reason when the run is not resumable.
//
//	go run ./scripts/checkrun [--contiguous] RUN_DIR
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"mdsm/core"
)

func main() {
	contiguous := flag.Bool("contiguous", false, "also require metrics.jsonl to hold exactly steps 1..N of the newest checkpoint")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: checkrun [--contiguous] RUN_DIR")
		os.Exit(2)
	}
	dir := flag.Arg(0)
	fail := func(format string, a ...any) {
		fmt.Printf("FAIL "+format+"\n", a...)
		os.Exit(1)
	}
	if _, err := core.ReadRunConfig(dir); err != nil {
		fail("%v", err)
	}
	step := 0
	ck, skipped, err := core.LoadLatestCheckpoint(dir)
	switch {
	case err == nil:
		step = ck.State.Step
		if ferr := ck.Params.CheckFinite(); ferr != nil {
			fail("checkpoint at step %d: %v", step, ferr)
		}
	case len(skipped) > 0:
		fail("no readable checkpoint: %v", err)
	}
	for _, e := range skipped {
		fmt.Fprintln(os.Stderr, "skipped:", e)
	}
	recs, err := core.ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		fail("%v", err)
	}
	if *contiguous {
		if len(recs) != step {
			fail("metrics.jsonl has %d records for %d steps", len(recs), step)
		}
		for i, r := range recs {
			if r.Step != i+1 {
				fail("metrics.jsonl record %d is step %d", i+1, r.Step)
			}
		}
	}
	fmt.Printf("step=%d skipped=%d metrics=%d\n", step, len(skipped), len(recs))
}
