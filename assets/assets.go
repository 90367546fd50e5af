// Package assets holds the pictures the desktop app embeds: the app icon,
// the default display picture, a gallery of ready-made display pictures,
// the MSN-style status glyphs and MSN's emoticons (a table from text code to
// picture).
//
// It exposes plain PNG bytes and imports no GUI toolkit, so any front end can
// wrap them (the Fyne app uses fyne.NewStaticResource). The PNGs are drawn by
// gen/main.go; run it again to change them.
package assets

import _ "embed"

// Icon is the 256×256 application icon (two buddies), also named by FyneApp.toml.
//
//go:embed icon.png
var Icon []byte

// Avatar is the 96×96 default display picture.
//
//go:embed avatar.png
var Avatar []byte

// Status glyphs, 32×32 bullets in MSN's colours.
var (
	//go:embed status-online.png
	StatusOnline []byte // green: online
	//go:embed status-busy.png
	StatusBusy []byte // red: busy, on the phone
	//go:embed status-away.png
	StatusAway []byte // orange: away, be right back, out to lunch
	//go:embed status-offline.png
	StatusOffline []byte // grey: offline, appear offline, pending
	//go:embed status-blocked.png
	StatusBlocked []byte // grey, struck through in red: a blocked contact
)

// Nudge is the 32×32 icon of the chat window's nudge button.
//
//go:embed nudge.png
var Nudge []byte
