package app

import (
	"fmt"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// TestNoThemeOverride: Fyne caches parsed font faces per theme scope, and a
// container.ThemeOverride is a scope of its own, so every font shown inside
// one is parsed and held a second time (~4 MiB of heap per text style with
// the bundled fonts; the contact list's compact override cost the main
// window that, issue 21). No window of the app may hold one.
func TestNoThemeOverride(t *testing.T) {
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	a.openChat("bob")
	wins := map[string]fyne.Window{"sign-in": a.signIn.win, "main": a.main.win}
	for who, c := range a.chats {
		wins["chat with "+who] = c.win
	}
	for name, w := range wins {
		if path := findOverride(w.Content(), name); path != "" {
			t.Errorf("%s holds a theme override", path)
		}
	}
}

// findOverride walks o's containers and widgets' renderers and returns
// where a ThemeOverride sits, or "".
func findOverride(o fyne.CanvasObject, path string) string {
	if o == nil {
		return ""
	}
	path = fmt.Sprintf("%s/%T", path, o)
	var children []fyne.CanvasObject
	switch v := o.(type) {
	case *container.ThemeOverride:
		return path
	case *fyne.Container:
		children = v.Objects
	case fyne.Widget:
		children = test.WidgetRenderer(v).Objects()
	}
	for _, c := range children {
		if p := findOverride(c, path); p != "" {
			return p
		}
	}
	return ""
}
