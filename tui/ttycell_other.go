//go:build !unix

package tui

import "mdsm/tui/termimg"

// ttyCellSize is unknown off Unix: the terminal's answer to CSI 16 t, or guessCell, is used.
func ttyCellSize() (termimg.CellSize, bool) { return termimg.CellSize{}, false }
