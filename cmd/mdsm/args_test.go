package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

func testFlagSet() (*flag.FlagSet, *int, *bool) {
	fs := flag.NewFlagSet("mdsm test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n := fs.Int("steps", 1, "")
	q := fs.Bool("quiet", false, "")
	return fs, n, q
}

func TestParseArgs(t *testing.T) {
	for _, c := range []struct {
		args  []string
		want  []string // the positional names the command takes
		pos   []string // what fs.Args() holds after parsing
		steps int
		err   string // "" = no error, else a fragment of it
	}{
		{[]string{"--steps", "5"}, nil, nil, 5, ""},
		{[]string{"--steps", "5", "oops"}, nil, nil, 0, `unexpected argument "oops"`},
		{[]string{"oops", "--steps", "5"}, nil, nil, 0, `unexpected argument "oops"`},
		{[]string{"run", "--steps", "7"}, []string{"RUN"}, []string{"run"}, 7, ""},
		{[]string{"--steps", "7", "run", "--quiet"}, []string{"RUN"}, []string{"run"}, 7, ""},
		{[]string{"run", "x", "--steps", "7"}, []string{"RUN"}, nil, 0, `unexpected argument "x"`},
		{[]string{"--steps", "7"}, []string{"RUN"}, nil, 0, "needs RUN"},
		{[]string{"--", "-odd-name"}, []string{"RUN"}, []string{"-odd-name"}, 1, ""},
		{[]string{"--steps", "x"}, nil, nil, 0, "invalid value"},
		{[]string{"--nope"}, nil, nil, 0, "not defined"},
	} {
		fs, steps, _ := testFlagSet()
		fs.Usage = func() {}
		err := parseArgs(fs, c.args, c.want...)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: %v, want an error containing %s", c.args, err, c.err)
		case c.err == "" && (!slices.Equal(fs.Args(), c.pos) || *steps != c.steps):
			t.Errorf("%q: args %q steps %d, want %q %d", c.args, fs.Args(), *steps, c.pos, c.steps)
		}
	}
}

// FuzzParseArgs: whatever the arguments, parsing never panics, and a refused argument is
// named in the error.
func FuzzParseArgs(f *testing.F) {
	f.Add("--steps 5 oops --quiet", uint8(0))
	f.Add("run -- --steps", uint8(1))
	f.Fuzz(func(t *testing.T, line string, want uint8) {
		args := strings.Fields(line)
		fs, _, _ := testFlagSet()
		fs.Usage = func() {}
		names := []string{"A", "B"}[:want%3%2+want%3/2]
		err := parseArgs(fs, args, names...)
		if err != nil && strings.Contains(err.Error(), "unexpected argument") {
			found := false
			for _, a := range args {
				found = found || strings.Contains(err.Error(), fmt.Sprintf("%q", a))
			}
			if !found {
				t.Fatalf("%q: %v names none of the arguments", args, err)
			}
		}
		if err == nil && len(fs.Args()) != len(names) {
			t.Fatalf("%q: accepted with %d positional arguments, want %d", args, len(fs.Args()), len(names))
		}
	})
}
