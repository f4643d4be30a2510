package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"mdsm/core"
)

// TestRunFlagsReachEveryField: every row of core.RunFields has a flag in `mdsm train` and
// the workbench, and giving the flag sets that field (and only through the table).
func TestRunFlagsReachEveryField(t *testing.T) {
	for _, f := range core.RunFields() {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		rf := bindRunFlags(fs)
		if fs.Lookup(f.Flag) == nil {
			t.Errorf("field %s: no flag --%s", f.Name, f.Flag)
			continue
		}
		ex := f.Example()
		arg := "--" + f.Flag + "=" + ex
		if f.Kind == core.KindBool {
			arg = "--" + f.Flag + "=" + map[string]string{"on": "true", "off": "false"}[ex]
		}
		if err := fs.Parse([]string{arg}); err != nil {
			t.Errorf("%s: %v", arg, err)
			continue
		}
		c := core.DefaultRunConfig()
		_ = rf.apply(&c) // the example need not make a valid config
		if g := f.Get(c); g != ex && g != ex+"+custom" {
			t.Errorf("%s: field %s = %q", arg, f.Name, g)
		}
	}
}

// TestRunFlagsOrderAndErrors: a preset given after a width still comes first, a bad
// choice names its flag, and the help shows each field's default.
func TestRunFlagsOrderAndErrors(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var help strings.Builder
	fs.SetOutput(&help)
	rf := bindRunFlags(fs)
	if err := fs.Parse([]string{"--filters", "8", "--preset", "tiny", "--lr-schedule", "cosine"}); err != nil {
		t.Fatal(err)
	}
	c := core.DefaultRunConfig()
	if err := rf.apply(&c); err != nil {
		t.Fatal(err)
	}
	if c.Model.Filters != 8 || c.Model.Preset != "tiny+custom" {
		t.Errorf("model %+v: want the tiny preset with 8 filters", c.Model)
	}
	fs2 := flag.NewFlagSet("test", flag.ContinueOnError)
	rf2 := bindRunFlags(fs2)
	fs2.Parse([]string{"--noise-mode", "double"})
	c = core.DefaultRunConfig()
	if err := rf2.apply(&c); err == nil || !strings.Contains(err.Error(), "--noise-mode") {
		t.Errorf("bad choice: %v", err)
	}
	fs.PrintDefaults()
	for _, want := range []string{"-sample-t0", "(default 150)", "-beta2", "(default 0.95)", "-lr-schedule", `(default "cosine")`} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestRunFlagsUseValuesAsGiven: a zero or negative count reaches its field as given (never
// replaced by the default), and a negative one is refused naming the field.
func TestRunFlagsUseValuesAsGiven(t *testing.T) {
	for _, f := range core.RunFields() {
		if f.Kind != core.KindInt {
			continue
		}
		for _, v := range []string{"0", "-1"} {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			rf := bindRunFlags(fs)
			if err := fs.Parse([]string{"--" + f.Flag + "=" + v}); err != nil {
				t.Fatal(err)
			}
			c := core.DefaultRunConfig()
			err := rf.apply(&c)
			if got := f.Get(c); got != v {
				t.Errorf("--%s=%s: field %s = %s", f.Flag, v, f.Name, got)
			}
			if v == "-1" && (err == nil || !strings.Contains(err.Error(), f.Name+" = -1")) {
				t.Errorf("--%s=-1: %v, want an error naming %s", f.Flag, err, f.Name)
			}
		}
	}
}

// TestResumeFlagsAreTheTable: `mdsm train --resume` accepts the flag of every setting the
// table marks Resume (and of no other setting), besides its own process flags.
func TestResumeFlagsAreTheTable(t *testing.T) {
	for _, f := range core.RunFields() {
		if got := slices.Contains(trainResumeFlags, f.Flag); got != f.Resume {
			t.Errorf("--%s accepted with --resume: %v; the table says Resume %v", f.Flag, got, f.Resume)
		}
	}
	for _, own := range []string{"resume", "threads", "quiet", "skip-memory-check"} {
		if !slices.Contains(trainResumeFlags, own) {
			t.Errorf("--resume refuses --%s", own)
		}
	}
}
