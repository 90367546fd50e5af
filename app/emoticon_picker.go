package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"eserver/assets"
)

// emoticonPicker is the grid the toolbar's smiley opens, as MSN's did: a
// click puts the emoticon's code at the cursor.
type emoticonPicker struct {
	popup   *widget.PopUp
	buttons []*widget.Button // in assets.Emoticons order
}

// emoticonColumns is the picker's width in emoticons.
const emoticonColumns = 7

func (c *chatWindow) newEmoticonPicker() *emoticonPicker {
	p := &emoticonPicker{}
	grid := container.NewGridWithColumns(emoticonColumns)
	for _, e := range assets.Emoticons {
		code := e.Codes[0]
		b := widget.NewButtonWithIcon("", emoticonResources[code], func() { c.insertEmoticon(code) })
		b.Importance = widget.LowImportance
		p.buttons = append(p.buttons, b)
		grid.Add(b)
	}
	title := widget.NewLabelWithStyle(lang.L("Emoticons"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	p.popup = widget.NewPopUp(container.NewVBox(title, grid), c.win.Canvas())
	return p
}

// showEmoticons opens the picker above the smiley button, where MSN had it.
func (c *chatWindow) showEmoticons() {
	if c.emoticons == nil {
		c.emoticons = c.newEmoticonPicker()
	}
	p := c.emoticons.popup
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(c.emoticonBtn)
	size := p.MinSize()
	pos.Y -= size.Height
	if pos.Y < 0 {
		pos.Y = 0
	}
	p.ShowAtPosition(pos)
}

// insertEmoticon types code at the entry's cursor (replacing a selection)
// and hands the cursor back to the entry.
func (c *chatWindow) insertEmoticon(code string) {
	if c.emoticons != nil {
		c.emoticons.popup.Hide()
	}
	c.win.Canvas().Focus(c.entry)
	for _, r := range code {
		c.entry.TypedRune(r)
	}
}
