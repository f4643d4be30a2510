//go:build tools

package tools

import (
	_ "charm.land/bubbles/v2/help"
	_ "charm.land/bubbletea/v2"
	_ "charm.land/lipgloss/v2"
	_ "github.com/mattn/go-sixel"
	_ "gonum.org/v1/gonum/blas/gonum"
	_ "gorgonia.org/gorgonia"
	_ "gorgonia.org/tensor"
)
