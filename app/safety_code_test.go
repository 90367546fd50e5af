package app

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// TestSafetyCodeShownAndCopied: the Verify dialog shows our whole code
// (the screenshot showed a greyed field cut after 30 characters, which a
// disabled field does not let anyone select) and its Copy button puts it
// on the clipboard, to paste to the contact.
func TestSafetyCodeShownAndCopied(t *testing.T) {
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	a.openChat("bob")
	c := a.chats["bob"]
	c.win.Resize(fyne.NewSize(600, 480))
	test.Tap(c.lock)
	v := c.safety
	// A real code is 44 characters (the fake's is short).
	code := "AeNZCYucDdI0DWn8OsXX3Xvl13tWrLbnUm3eQ9x1Zk0="
	v.setSafety(api.Safety{Number: "11111 22222", Code: code}, "Bob")
	if v.code.Text != code || !v.code.Selectable || v.code.Wrapping != fyne.TextWrapBreak {
		t.Fatalf("code %q, selectable %v, wrapping %v", v.code.Text, v.code.Selectable, v.code.Wrapping)
	}
	// Every character is on screen: the code wraps within the dialog.
	if w := v.code.MinSize().Width; w > safetyWidth {
		t.Fatalf("the code needs %v px in a dialog %v wide", w, safetyWidth)
	}
	test.Tap(v.copy)
	if got := a.fyne.Clipboard().Content(); got != code {
		t.Fatalf("clipboard holds %q, want our code", got)
	}
}
