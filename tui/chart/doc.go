// Package chart renders text charts as strings for lipgloss panes: a line
// chart for training curves (thousands to millions of points, downsampled
// to the pane with min/max envelopes so spikes stay visible, TensorBoard
// style EMA smoothing, log-scale y), a temperature schedule chart for the
// schedule editor (log T axis with T = 0 at the bottom, control points),
// and a scatter/line chart for energy vs temperature (log-log).
//
// Every chart is a plain value whose Render(w, h) is a pure function of its
// fields: it returns exactly h lines, each exactly w cells wide (ANSI
// aware), so it can be dropped into a lipgloss layout. Colours are applied
// with lipgloss styles as 24-bit SGR sequences; the program's renderer
// downsamples them to the terminal's colour profile.
package chart
