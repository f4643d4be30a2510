package tui

import "charm.land/bubbles/v2/key"

func bind(keys []string, help, desc string) key.Binding {
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
}

// globalKeys work in every pane (unless a text field is being edited).
type globalKeys struct {
	Configure, Train, Samples, Schedule, Inpaint key.Binding
	Help, Quit                                   key.Binding
}

var gk = globalKeys{
	Configure: bind([]string{"1"}, "1", "configure pane"),
	Train:     bind([]string{"2"}, "2", "train pane"),
	Samples:   bind([]string{"3"}, "3", "samples pane"),
	Schedule:  bind([]string{"4"}, "4", "schedule pane"),
	Inpaint:   bind([]string{"5"}, "5", "inpaint/denoise pane"),
	Help:      bind([]string{"?"}, "?", "help: every key (j/k scroll)"),
	Quit:      bind([]string{"q", "ctrl+c"}, "q/ctrl+c", "quit (asks when training)"),
}

func (k globalKeys) list() []key.Binding {
	return []key.Binding{k.Configure, k.Train, k.Samples, k.Schedule, k.Inpaint, k.Help, k.Quit}
}

type trainKeys struct {
	Start, Pause, Stop, Checkpoint, LogScale, Raw, Smooth, Unsmooth key.Binding
}

var tk = trainKeys{
	Start:      bind([]string{"s"}, "s", "start / resume training (extend a finished run)"),
	Pause:      bind([]string{"p", "space"}, "p/space", "pause / resume"),
	Stop:       bind([]string{"x"}, "x", "stop (checkpoint first)"),
	Checkpoint: bind([]string{"c"}, "c", "checkpoint now (kept: never rotated)"),
	LogScale:   bind([]string{"l"}, "l", "log-scale loss axis"),
	Raw:        bind([]string{"r"}, "r", "raw / normalised loss"),
	Smooth:     bind([]string{"+", "="}, "+", "more smoothing"),
	Unsmooth:   bind([]string{"-"}, "-", "less smoothing"),
}

// list is every Train key; a followed run (watch) has only the chart keys.
func (k trainKeys) list() []key.Binding {
	return []key.Binding{k.Start, k.Pause, k.Stop, k.Checkpoint, k.LogScale, k.Raw, k.Smooth, k.Unsmooth}
}

func (k trainKeys) chartKeys() []key.Binding {
	return []key.Binding{k.LogScale, k.Raw, k.Smooth, k.Unsmooth}
}

type configKeys struct {
	Up, Down, Edit, Cancel, Prev, Next, Defaults, NewRun key.Binding
}

var ck = configKeys{
	Up:       bind([]string{"up", "k"}, "↑/k", "previous field"),
	Down:     bind([]string{"down", "j"}, "↓/j", "next field"),
	Edit:     bind([]string{"enter"}, "enter", "edit field / commit"),
	Cancel:   bind([]string{"esc"}, "esc", "cancel edit"),
	Prev:     bind([]string{"left", "h"}, "←/h", "previous choice (choice fields)"),
	Next:     bind([]string{"right", "l"}, "→/l", "next choice (choice fields)"),
	Defaults: bind([]string{"D"}, "D", "reset to defaults"),
	NewRun:   bind([]string{"N"}, "N", "new run (after a run stopped)"),
}

func (k configKeys) list() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.Edit, k.Cancel, k.Prev, k.Next, k.Defaults, k.NewRun}
}

type sampleKeys struct {
	Sample, Cancel, View, Save, Faster, Slower, More, Fewer key.Binding
}

var sk = sampleKeys{
	Sample: bind([]string{"n"}, "n", "sample now (live chain)"),
	Cancel: bind([]string{"esc"}, "esc", "cancel the running chain"),
	View:   bind([]string{"g"}, "g", "periodic grid / your chain"),
	Save:   bind([]string{"w"}, "w", "save the picture shown as PNG"),
	Faster: bind([]string{"+", "="}, "+", "more steps per frame"),
	Slower: bind([]string{"-"}, "-", "fewer steps per frame"),
	More:   bind([]string{"]"}, "]", "more chains"),
	Fewer:  bind([]string{"["}, "[", "fewer chains"),
}

func (k sampleKeys) list() []key.Binding {
	return []key.Binding{k.Sample, k.View, k.Cancel, k.Save, k.Faster, k.Slower, k.More, k.Fewer}
}

type scheduleKeys struct {
	Next, Prev, Left, Right, Up, Down, Add, Delete, Exp, Lin        key.Binding
	T0Up, T0Down, StepsUp, StepsDown, EpsUp, EpsDown, Save, Default key.Binding
}

var shk = scheduleKeys{
	Next:      bind([]string{"tab", "]"}, "tab/]", "select next point"),
	Prev:      bind([]string{"shift+tab", "["}, "shift+tab/[", "select previous point"),
	Left:      bind([]string{"left", "h"}, "←/h", "move point earlier (2% of the steps)"),
	Right:     bind([]string{"right", "l"}, "→/l", "move point later (2% of the steps)"),
	Up:        bind([]string{"up", "k"}, "↑/k", "raise point temperature"),
	Down:      bind([]string{"down", "j"}, "↓/j", "lower point temperature"),
	Add:       bind([]string{"a"}, "a", "add a point after the selected"),
	Delete:    bind([]string{"d"}, "d", "delete the selected point"),
	Exp:       bind([]string{"e"}, "e", "preset: exp (paper)"),
	Lin:       bind([]string{"L"}, "L", "preset: lin"),
	T0Up:      bind([]string{"T"}, "T", "raise start temperature"),
	T0Down:    bind([]string{"t"}, "t", "lower start temperature"),
	StepsUp:   bind([]string{"S"}, "S", "more steps"),
	StepsDown: bind([]string{"s"}, "s", "fewer steps"),
	EpsUp:     bind([]string{"E"}, "E", "larger step length eps"),
	EpsDown:   bind([]string{"z"}, "z", "smaller step length eps"),
	Save:      bind([]string{"w"}, "w", "save as the run's sampler (RUN/sampler.json)"),
	Default:   bind([]string{"D"}, "D", "reset to the default schedule"),
}

func (k scheduleKeys) list() []key.Binding {
	return []key.Binding{k.Next, k.Left, k.Right, k.Up, k.Down, k.Add, k.Delete, k.Save, k.Prev, k.Exp, k.Lin,
		k.T0Up, k.T0Down, k.StepsUp, k.StepsDown, k.EpsUp, k.EpsDown, k.Default}
}

type inpaintKeys struct {
	Prev, Next, Mask, NoiseUp, NoiseDown, Run, Cancel, Save key.Binding
}

var ik = inpaintKeys{
	Prev:      bind([]string{"left", "h"}, "←/h", "previous test images"),
	Next:      bind([]string{"right", "l"}, "→/l", "next test images"),
	Mask:      bind([]string{"m"}, "m", "next mask / denoise mode"),
	NoiseUp:   bind([]string{"+", "="}, "+", "more noise (denoise)"),
	NoiseDown: bind([]string{"-"}, "-", "less noise (denoise)"),
	Run:       bind([]string{"enter"}, "enter", "run"),
	Cancel:    bind([]string{"esc"}, "esc", "cancel"),
	Save:      bind([]string{"w"}, "w", "save the result as PNG"),
}

func (k inpaintKeys) list() []key.Binding {
	return []key.Binding{k.Run, k.Mask, k.Prev, k.Next, k.NoiseUp, k.NoiseDown, k.Cancel, k.Save}
}

// helpKeys scroll the help overlay.
type helpKeys struct {
	Down, Up, PageDown, PageUp, Top, Bottom, Close key.Binding
}

var hk = helpKeys{
	Down:     bind([]string{"down", "j"}, "↓/j", "scroll down"),
	Up:       bind([]string{"up", "k"}, "↑/k", "scroll up"),
	PageDown: bind([]string{"pgdown", "space", "f"}, "pgdn", "page down"),
	PageUp:   bind([]string{"pgup", "b"}, "pgup", "page up"),
	Top:      bind([]string{"home", "g"}, "home", "top"),
	Bottom:   bind([]string{"end", "G"}, "end", "bottom"),
	Close:    bind([]string{"?", "esc", "q"}, "?/esc", "close help"),
}

func (k helpKeys) list() []key.Binding {
	return []key.Binding{k.Close, k.Down, k.Up, k.PageDown, k.PageUp}
}

type quitKeys struct{ Stop, Keep, Cancel key.Binding }

var qk = quitKeys{
	Stop:   bind([]string{"s", "y"}, "s", "stop training (checkpoint first) and quit"),
	Keep:   bind([]string{"k"}, "k", "keep training headless and quit"),
	Cancel: bind([]string{"esc", "n"}, "esc", "back to the workbench"),
}
