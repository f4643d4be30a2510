package hostile

import (
	"fmt"
	"path/filepath"

	"mdsm/core"
)

// fieldCases are generated from core.RunFields, the one table the run-setting flags of
// `mdsm train` and the workbench are generated from, so that a new setting is covered the
// day it is added:
//   - every setting's flag given to the workbench with a value it must refuse (a negative
//     count, NaN, an unknown choice, a malformed number or switch) is an error naming the
//     setting, never a default put in its place;
//   - every setting's flag given with `--open RUN` is refused (the workbench reopens a run
//     with its own configuration);
//   - every setting's flag given with `train --resume RUN` is accepted exactly when the table
//     marks the setting Resume, and then honoured (the resumed run's config.json holds it);
//     otherwise it is refused, naming the flag.
func fieldCases() []hcase {
	var cs []hcase
	for _, f := range core.RunFields() {
		if bad, says, ok := badValue(f); ok {
			cs = append(cs, hcase{class: "flags", name: fmt.Sprintf("workbench --%s=%s", f.Flag, bad), code: 1,
				setup: args("--" + f.Flag + "=" + bad), says: []string{says}})
		}
		ex := resumeValue(f)
		arg := flagArg(f, ex)
		cs = append(cs, hcase{class: "flags", name: "workbench --open with " + arg, code: 1,
			setup: args("--open", "run", arg), says: []string{"--" + f.Flag + " cannot be given", "--open run"}})
		if !f.Resume {
			cs = append(cs, hcase{class: "flags", name: "resume with " + arg, code: 1,
				setup: args(resumeArgs(arg)...), says: []string{"--" + f.Flag + " cannot be given", "--resume run"}})
			continue
		}
		cs = append(cs, hcase{class: "flags", name: "resume honours " + arg, code: 0, allow: resumed,
			setup: args(resumeArgs(arg)...), says: []string{"done at step"},
			check: func(w *world, _ string) error {
				cfg, err := core.ReadRunConfig(filepath.Join(w.dir, "run"))
				if err != nil {
					return err
				}
				if got := f.Get(cfg); got != ex {
					return fmt.Errorf("resumed with %s, config.json has %s = %s", arg, f.Name, got)
				}
				return nil
			}})
	}
	return cs
}

// badValue is a value of f's flag that must be refused whatever the other settings are
// (the workbench's defaults), and what the error must say: the setting's JSON name for a
// value out of range, the flag for one that does not parse. ok is false for a setting that
// takes any text (the data directory).
func badValue(f core.Field) (bad, says string, ok bool) {
	switch {
	case f.Name == "data":
		return "", "data is empty", true
	case f.Name == "data_dir":
		return "", "", false
	case f.Kind == core.KindInt:
		return "-1", f.Name + " = -1", true
	case f.Kind == core.KindFloat:
		return "NaN", f.Name + " = NaN", true
	case f.Kind == core.KindUint, f.Kind == core.KindBool:
		return "maybe", "-" + f.Flag, true // the flag package: invalid value "maybe" for flag -NAME
	case f.Name == "device":
		return "gpu7", "device = gpu7", true
	}
	return "bogus", "--" + f.Flag, true // a choice that is not one: "--NAME: "bogus": choose one of ..."
}

// resumeValue is a value of f to resume with: its table example, except where the example
// cannot run here (the device: no GPU) or would be an odd path.
func resumeValue(f core.Field) string {
	switch f.Name {
	case "device":
		return "cpu"
	case "data_dir":
		return "elsewhere"
	case "micro_batch":
		return "4" // of the base run's batch of 8
	}
	return f.Example()
}

// flagArg is --FLAG=VALUE for a value as the table writes it (on/off for switches).
func flagArg(f core.Field, v string) string {
	if f.Kind == core.KindBool {
		v = map[string]string{"on": "true", "off": "false"}[v]
	}
	return "--" + f.Flag + "=" + v
}
