// Command barefyne is the baseline of the desktop memory benchmark
// (scripts/membench): the smallest Fyne app that looks like a messenger's
// contact list — a 50-row list, an entry and a button, in a window the size
// of EServer's main window — built with the same Fyne version and Fyne's
// default build tags, so what it holds is what any Fyne app holds on this
// machine (the GL libraries, the driver, the theme's fonts) and the
// difference to EServer is EServer's own.
//
// Enter in its entry (which has the focus) opens one more window the size
// of EServer's chat window, with the same three widgets: the baseline for
// what one more window costs any Fyne app.
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
	opened := 0
	entry := widget.NewEntry()
	entry.SetPlaceHolder("Search contacts...")
	entry.OnSubmitted = func(string) {
		opened++
		win := a.NewWindow(fmt.Sprintf("Bare Fyne window %d", opened))
		win.SetContent(content("Message", "Send"))
		win.Resize(fyne.NewSize(600, 480)) // EServer's chat window (app/chat.go)
		win.Show()
	}
	w.SetContent(container.NewBorder(entry, widget.NewButton("Add a contact", func() {}), nil, nil, rows()))
	w.Resize(fyne.NewSize(360, 620)) // EServer's main window (app/contacts.go)
	w.Canvas().Focus(entry)
	w.ShowAndRun()
}

// rows is a 50-row list of labels.
func rows() *widget.List {
	return widget.NewList(
		func() int { return 50 },
		func() fyne.CanvasObject { return widget.NewLabel("contact name") },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(fmt.Sprintf("Row %d", i+1)) },
	)
}

// content is a list above an entry and a button.
func content(placeholder, button string) fyne.CanvasObject {
	e := widget.NewEntry()
	e.SetPlaceHolder(placeholder)
	return container.NewBorder(nil, container.NewBorder(nil, nil, nil, widget.NewButton(button, func() {}), e), nil, nil, rows())
}
