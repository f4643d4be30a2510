package tui

import "charm.land/bubbles/v2/key"

func bind(keys []string, help, desc string) key.Binding {
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
}

// globalKeys work in every pane (unless a text field is being edited).
type globalKeys struct {
	Configure, Train, Samples, Schedule, Inpaint, Runs, Energy key.Binding
	Shot, Help, Quit                                           key.Binding
}

var gk = globalKeys{
	Configure: bind([]string{"1"}, "1", "configure pane"),
	Train:     bind([]string{"2"}, "2", "train pane"),
	Samples:   bind([]string{"3"}, "3", "samples pane"),
	Schedule:  bind([]string{"4"}, "4", "schedule pane"),
	Inpaint:   bind([]string{"5"}, "5", "inpaint/denoise pane"),
	Runs:      bind([]string{"6"}, "6", "runs pane: every run, overlay, compare"),
	Energy:    bind([]string{"7"}, "7", "energy pane: histograms of energies"),
	Shot:      bind([]string{"W"}, "W", "save the screen as PNG (charts and pictures)"),
	Help:      bind([]string{"?"}, "?", "help: every key (j/k scroll)"),
	Quit:      bind([]string{"q", "ctrl+c"}, "q/ctrl+c", "quit (asks when training)"),
}

func (k globalKeys) list() []key.Binding {
	return []key.Binding{k.Configure, k.Train, k.Samples, k.Schedule, k.Inpaint, k.Runs, k.Energy, k.Shot, k.Help, k.Quit}
}

// panes are the keys of the panes, in pane order.
func (k globalKeys) panes() []key.Binding {
	return []key.Binding{k.Configure, k.Train, k.Samples, k.Schedule, k.Inpaint, k.Runs, k.Energy}
}

type trainKeys struct {
	Start, Pause, Stop, Checkpoint, Total                                 key.Binding
	LogScale, Raw, Smooth, Unsmooth, Main                                 key.Binding
	ZoomIn, ZoomOut, Fit, PanLeft, PanRight, Left, Right, CursorOff, Save key.Binding
	// Cursor, Zoom and Pan show pairs of keys as one item in the hints and the help.
	Cursor, Zoom, Pan key.Binding
}

var tk = trainKeys{
	Start:      bind([]string{"s"}, "s", "start / resume training (extend a finished run)"),
	Pause:      bind([]string{"p", "space"}, "p/space", "pause / resume"),
	Stop:       bind([]string{"x"}, "x", "stop (checkpoint first)"),
	Checkpoint: bind([]string{"c"}, "c", "checkpoint now (kept: never rotated)"),
	Total:      bind([]string{"T"}, "T", "set the total steps (extend the run)"),
	LogScale:   bind([]string{"l"}, "l", "log-scale loss axis"),
	Raw:        bind([]string{"r"}, "r", "raw / normalised loss"),
	Smooth:     bind([]string{"+", "="}, "+", "more smoothing"),
	Unsmooth:   bind([]string{"-"}, "-", "less smoothing"),
	Main:       bind([]string{"m"}, "m", "loss / loss per noise level"),
	ZoomIn:     bind([]string{"z"}, "z", "zoom in (steps)"),
	ZoomOut:    bind([]string{"Z"}, "Z", "zoom out"),
	Fit:        bind([]string{"f"}, "f", "whole run (follow the newest step)"),
	PanLeft:    bind([]string{"<", "shift+left"}, "<", "pan to earlier steps"),
	PanRight:   bind([]string{">", "shift+right"}, ">", "pan to later steps"),
	Left:       bind([]string{"left"}, "←", "cursor: earlier step (value readout)"),
	Right:      bind([]string{"right"}, "→", "cursor: later step"),
	CursorOff:  bind([]string{"esc"}, "esc", "hide the cursor"),
	Save:       bind([]string{"w"}, "w", "write the chart window's data as CSV"),
	Cursor:     bind([]string{"left", "right"}, "←/→", "cursor: the values at a step"),
	Zoom:       bind([]string{"z", "Z"}, "z/Z", "zoom in / out (steps; y fits the window)"),
	Pan:        bind([]string{"<", ">"}, "</>", "pan to earlier / later steps (also shift+←/→)"),
}

// list is every Train key: the run's controls (a followed run's go to its trainer through
// the control channel), then the chart's.
func (k trainKeys) list() []key.Binding {
	return append([]key.Binding{k.Start, k.Pause, k.Stop, k.Checkpoint, k.Total}, k.chartKeys()...)
}

func (k trainKeys) chartKeys() []key.Binding {
	return []key.Binding{k.Cursor, k.Zoom, k.Pan, k.Fit, k.Main, k.LogScale, k.Raw, k.Smooth, k.Unsmooth, k.Save, k.CursorOff}
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
	Prev, Next, Oldest, Newest, Compare                     key.Binding
}

var sk = sampleKeys{
	Sample:  bind([]string{"n"}, "n", "sample now (live chain)"),
	Cancel:  bind([]string{"esc"}, "esc", "cancel the running chain"),
	View:    bind([]string{"g"}, "g", "periodic grid / your chain"),
	Save:    bind([]string{"w"}, "w", "save the picture shown as PNG"),
	Faster:  bind([]string{"+", "="}, "+", "more steps per frame"),
	Slower:  bind([]string{"-"}, "-", "fewer steps per frame"),
	More:    bind([]string{"]"}, "]", "more chains"),
	Fewer:   bind([]string{"["}, "[", "fewer chains"),
	Prev:    bind([]string{"left", "h"}, "←/h", "earlier periodic grid (sample history)"),
	Next:    bind([]string{"right", "l"}, "→/l", "later periodic grid"),
	Oldest:  bind([]string{"home"}, "home", "first periodic grid"),
	Newest:  bind([]string{"end"}, "end", "newest periodic grid (follow)"),
	Compare: bind([]string{"c"}, "c", "side by side: pin this grid, scrub the other"),
}

func (k sampleKeys) list() []key.Binding {
	return []key.Binding{k.Sample, k.View, k.Prev, k.Next, k.Compare, k.Newest, k.Oldest, k.Cancel, k.Save, k.Faster, k.Slower, k.More, k.Fewer}
}

type runsKeys struct {
	Up, Down, Mark, Open, Resume, Sort, Reverse, Compare, Unmark key.Binding
}

var rk = runsKeys{
	Up:      bind([]string{"up", "k"}, "↑/k", "previous run"),
	Down:    bind([]string{"down", "j"}, "↓/j", "next run"),
	Mark:    bind([]string{"space", "m"}, "space", "mark: overlay its loss in the Train pane"),
	Open:    bind([]string{"enter"}, "enter", "open the run (watch it)"),
	Resume:  bind([]string{"r"}, "r", "resume training it here"),
	Sort:    bind([]string{"o"}, "o", "sort by the next column"),
	Reverse: bind([]string{"O"}, "O", "reverse the order"),
	Compare: bind([]string{"c"}, "c", "compare the marked runs' configs (fields that differ)"),
	Unmark:  bind([]string{"u"}, "u", "unmark every run"),
}

func (k runsKeys) list() []key.Binding {
	return []key.Binding{k.Mark, k.Open, k.Resume, k.Compare, k.Sort, k.Reverse, k.Up, k.Down, k.Unmark}
}

type energyKeys struct {
	Run, OOD, More, Fewer, Cancel, Save key.Binding
}

var ek = energyKeys{
	Run:    bind([]string{"enter", "e"}, "enter", "compute from the newest weights"),
	OOD:    bind([]string{"o"}, "o", "next out-of-distribution set"),
	More:   bind([]string{"+", "="}, "+", "more histogram bins"),
	Fewer:  bind([]string{"-"}, "-", "fewer histogram bins"),
	Cancel: bind([]string{"esc"}, "esc", "cancel"),
	Save:   bind([]string{"w"}, "w", "write the energies as CSV"),
}

func (k energyKeys) list() []key.Binding {
	return []key.Binding{k.Run, k.OOD, k.More, k.Fewer, k.Cancel, k.Save}
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
