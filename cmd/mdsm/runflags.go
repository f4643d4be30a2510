package main

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"mdsm/core"
)

// runFlags are the flags of every run setting, generated from core.RunFields (one flag per
// field, its name, help and default from the table), shared by `mdsm train` and the
// workbench. Parsing only checks that each value has the field's type; apply sets the
// values given on a config, in table order (a preset before the widths it would reset),
// and validates the result.
type runFlags struct {
	fs *flag.FlagSet
}

func bindRunFlags(fs *flag.FlagSet) *runFlags {
	for _, f := range core.RunFields() {
		def := f.Default()
		switch f.Kind {
		case core.KindInt:
			n, _ := strconv.Atoi(def)
			fs.Int(f.Flag, n, f.Help)
		case core.KindUint:
			n, _ := strconv.ParseUint(def, 10, 64)
			fs.Uint64(f.Flag, n, f.Help)
		case core.KindFloat:
			x, _ := strconv.ParseFloat(def, 64)
			fs.Float64(f.Flag, x, f.Help)
		case core.KindBool:
			fs.Bool(f.Flag, def == "on", f.Help)
		default:
			fs.String(f.Flag, def, f.Help)
		}
	}
	bindSkipMemoryCheck(fs)
	return &runFlags{fs: fs}
}

// apply sets the run settings given on the command line on c, each as given, and
// validates it.
func (r *runFlags) apply(c *core.RunConfig) error {
	for _, f := range core.RunFields() {
		if given(r.fs, f.Flag) {
			if err := f.Set(c, r.fs.Lookup(f.Flag).Value.String()); err != nil {
				return fmt.Errorf("--%s: %w", f.Flag, err)
			}
		}
	}
	return c.Validate()
}

// resumeFlags lists the flags a resume accepts, for refuseOnResume: first runFlag (the one
// naming the run), then the flags of the run settings a resumed run may change (those
// core.RunFields marks Resume, the same that core.ResumeChangeable names), then the
// command's own flags that do not change the run (process).
func resumeFlags(runFlag string, process ...string) []string {
	names := []string{runFlag}
	for _, f := range core.RunFields() {
		if f.Resume {
			names = append(names, f.Flag)
		}
	}
	return append(names, process...)
}

// refuseOnResume refuses flags given with a resume (what: "--resume RUN"; allowed[0] is
// the flag naming the run) that a resumed run cannot honour: its configuration is the one
// in RUN/config.json, and changing the batch, the seed or the network halfway would
// silently make it another run.
func refuseOnResume(fs *flag.FlagSet, what string, allowed []string) error {
	var refused []string
	for _, name := range givenFlags(fs) {
		if !slices.Contains(allowed, name) {
			refused = append(refused, "--"+name)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	var may []string
	for _, a := range allowed[1:] { // allowed[0] is the resume flag itself
		may = append(may, "--"+a)
	}
	return fmt.Errorf("%s continues the run with the configuration in its config.json, so %s cannot be given: only %s can change on a resume (start a new run with --run-dir to change the others)",
		what, strings.Join(refused, ", "), strings.Join(may, ", "))
}

// defaultRunDir names a new run directory after the time it starts.
func defaultRunDir() string {
	return "runs/" + time.Now().Format("20060102-150405")
}
