package main

import (
	"flag"
	"fmt"
	"strconv"
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
	fs.BoolVar(&core.SkipMemoryCheck, "skip-memory-check", core.SkipMemoryCheck, "start even if the memory estimate says the run does not fit")
	return &runFlags{fs: fs}
}

// given returns the run settings given on the command line, by flag name.
func (r *runFlags) given() map[string]string {
	out := map[string]string{}
	r.fs.Visit(func(f *flag.Flag) { out[f.Name] = f.Value.String() })
	return out
}

// apply sets the run settings given on the command line on c and validates it.
func (r *runFlags) apply(c *core.RunConfig) error {
	given := r.given()
	for _, f := range core.RunFields() {
		if v, ok := given[f.Flag]; ok {
			if err := f.Set(c, v); err != nil {
				return fmt.Errorf("--%s: %w", f.Flag, err)
			}
		}
	}
	return c.Validate()
}

// defaultRunDir names a new run directory after the time it starts.
func defaultRunDir() string {
	return "runs/" + time.Now().Format("20060102-150405")
}
