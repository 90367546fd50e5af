// Command barefyne is the baseline of the desktop memory benchmark
// (scripts/membench): the smallest Fyne app that looks like a messenger's
// contact list — a 50-row list, an entry and a button, in a window the size
// of EServer's main window — built with the same Fyne version, so what it
// holds is what any Fyne app holds on this machine (the GL libraries, the
// driver, the theme's fonts) and the difference to EServer is EServer's own.
package main

import (
	"fmt"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"eserver/internal/memstat"
)

func main() {
	defer memstat.Install()()
	a := fyneapp.NewWithID("im.eserver.barefyne")
	w := a.NewWindow("Bare Fyne")
	list := widget.NewList(
		func() int { return 50 },
		func() fyne.CanvasObject { return widget.NewLabel("contact name") },
		func(i widget.ListItemID, o fyne.CanvasObject) {
			o.(*widget.Label).SetText(fmt.Sprintf("Contact %d", i+1))
		},
	)
	entry := widget.NewEntry()
	entry.SetPlaceHolder("Search contacts...")
	button := widget.NewButton("Add a contact", func() {})
	w.SetContent(container.NewBorder(entry, button, nil, nil, list))
	w.Resize(fyne.NewSize(360, 620)) // EServer's main window (app/contacts.go)
	w.ShowAndRun()
}
