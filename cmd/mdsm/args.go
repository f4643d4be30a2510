package main

import (
	"flag"
	"fmt"
	"runtime"
	"strings"

	"mdsm/core"
	"mdsm/nn"
)

// parseArgs is the one argument parser of every command: it parses fs from args, with flags
// and positional arguments in any order, and requires exactly the positional arguments
// named in want (e.g. "RUN_DIR|CHECKPOINT"; none for most commands). A stray argument is
// an error naming it, never a silent stop of flag parsing (`mdsm train --preset tiny oops
// --steps 5` would otherwise drop --steps). The positional arguments are left in fs.Args().
func parseArgs(fs *flag.FlagSet, args []string, want ...string) error {
	pos, err := collectArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > len(want) {
		extra := pos[len(want)]
		takes := "takes no arguments"
		if len(want) > 0 {
			takes = "takes only " + strings.Join(want, " ")
		}
		return fmt.Errorf("unexpected argument %q (%s %s; flags start with -- and take their value as --flag=value or --flag value)", extra, fs.Name(), takes)
	}
	if len(pos) < len(want) {
		fs.Usage()
		return fmt.Errorf("%s needs %s", fs.Name(), strings.Join(want[len(pos):], " "))
	}
	return fs.Parse(append([]string{"--"}, pos...)) // leaves them in fs.Args()
}

// parseArgsList is parseArgs for a command that takes one or more positional arguments
// (what names them).
func parseArgsList(fs *flag.FlagSet, args []string, what string) error {
	pos, err := collectArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return fmt.Errorf("%s needs %s", fs.Name(), what)
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

// collectArgs parses every flag in args and returns the positional arguments in order. A
// "--" ends the flags: everything after it is positional.
func collectArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		before := len(args)
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := before - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// given reports whether the flag name was set on the command line.
func given(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// givenFlags lists the flags set on the command line, in order of name.
func givenFlags(fs *flag.FlagSet) []string {
	var names []string
	fs.Visit(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// positive checks count flags that must be at least 1: each pair is a flag name and its
// value. A zero or negative value is an error naming the flag, never a silent default.
func positive(pairs ...any) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if v := pairs[i+1].(int); v < 1 {
			return fmt.Errorf("--%s %d: must be at least 1", pairs[i], v)
		}
	}
	return nil
}

// maxThreads bounds --threads: far above any machine's cores, far below a goroutine storm.
const maxThreads = 4096

// checkThreads refuses a negative or absurd --threads (0: every core) before the command
// applies it.
func checkThreads(n int) error {
	if n < 0 || n > maxThreads {
		return fmt.Errorf("--threads %d: must be 0 (every core) or 1..%d", n, maxThreads)
	}
	return nil
}

// bindSkipMemoryCheck binds --skip-memory-check for a command that checks its memory.
func bindSkipMemoryCheck(fs *flag.FlagSet) {
	fs.BoolVar(&core.SkipMemoryCheck, "skip-memory-check", false, "run even if the memory estimate says it does not fit")
}

// checkSamplingMemory refuses sampling n images of model c in batches of batch chains (as
// many batches at once as there are cores), keeping outputs images, when it would not fit
// in memory: a mistyped --n 100000000 is an error naming the flags, not an out-of-memory
// crash.
func checkSamplingMemory(c nn.Config, n, batch, outputs int) error {
	workers := int64(max(1, min(runtime.GOMAXPROCS(0), (n+batch-1)/batch)))
	need := core.SamplingMemory(c, workers*int64(min(batch, n)), workers, int64(outputs))
	return core.CheckMemoryFor(fmt.Sprintf("sampling %d images in batches of %d", n, min(batch, n)), need, "lower --n or --batch")
}
