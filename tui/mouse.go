package tui

import (
	tea "charm.land/bubbletea/v2"
)

// The mouse (Options.Mouse): a click on a tab shows its pane, a click in a pane goes to
// the pane as a clickMsg (the Runs pane selects the row, or marks it in the mark column),
// and the wheel scrolls the help and the Runs pane's list.

// clickMsg is a left click inside the pane's box, in pane coordinates.
type clickMsg struct{ x, y int }

// onMouse handles a mouse message.
func (a *App) onMouse(msg tea.MouseMsg) tea.Cmd {
	m := msg.Mouse()
	if a.quitAsk || a.quitting {
		return nil
	}
	switch msg.(type) {
	case tea.MouseWheelMsg:
		k := map[tea.MouseButton]string{tea.MouseWheelUp: "up", tea.MouseWheelDown: "down"}[m.Button]
		if k == "" {
			return nil
		}
		kp := tea.KeyPressMsg{Code: map[string]rune{"up": tea.KeyUp, "down": tea.KeyDown}[k]}
		if a.showHelp {
			a.help = a.help.scroll(kp)
			return nil
		}
		if a.active == paneRuns {
			return a.toPane(paneRuns, kp)
		}
		return nil
	case tea.MouseClickMsg:
	default:
		return nil
	}
	if m.Button != tea.MouseLeft || a.showHelp {
		return nil
	}
	if m.Y == 0 {
		_, spans := a.tabLayout()
		for i, sp := range spans {
			if m.X >= sp[0] && m.X < sp[1] {
				return a.showPane(i)
			}
		}
		return nil
	}
	if m.Y >= headerRows && m.Y < a.h-footerRows {
		return a.toPane(a.active, clickMsg{x: m.X, y: m.Y - headerRows})
	}
	return nil
}
