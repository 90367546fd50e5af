package app

import (
	"testing"

	"fyne.io/fyne/v2/test"
)

// selectStatus picks label from the status menu, as a click on it does.
func selectStatus(t *testing.T, a *App, label string) {
	t.Helper()
	test.Tap(a.main.status) // the menu pops up over the window
	for _, it := range a.statusMenu().Items {
		if it.Label == label {
			it.Action()
			return
		}
	}
	t.Fatalf("no %q in the status menu", label)
}
