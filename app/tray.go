package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/lang"

	"eserver/node/api"
)

// The notification-area icon, as MSN had: the messenger keeps running
// there when its window is closed, offers the status menu, and Exit is the
// one way to really quit.

// trayHostPresent reports whether the desktop shows tray icons at all. A
// Fyne desktop app can always create one, but on a desktop without a host
// (GNOME without an extension, a bare X server) the icon is invisible, and
// a window that closed "to the tray" could never be reopened. Tests replace
// it.
var trayHostPresent = probeTrayHost

// setupTray puts the icon and its menu in the tray and makes closing the
// sign-in and contact-list windows hide them there, when the desktop has a
// tray. Without one, closing the contact list quits, as before.
func (a *App) setupTray() {
	desk, ok := a.fyne.(desktop.App)
	if !ok || !trayHostPresent() {
		return
	}
	a.tray = desk
	desk.SetSystemTrayIcon(iconResource)
	a.refreshTray()
	a.main.win.SetCloseIntercept(a.main.win.Hide)
	a.signIn.win.SetCloseIntercept(a.signIn.win.Hide)
}

// refreshTray rebuilds the menu for the current state: the checked status,
// and what only makes sense when signed in.
func (a *App) refreshTray() {
	if a.tray != nil {
		a.tray.SetSystemTrayMenu(a.trayMenu())
	}
}

// trayMenu is the tray icon's menu.
func (a *App) trayMenu() *fyne.Menu {
	open := fyne.NewMenuItem(lang.L("Open EServer"), a.showFront)
	var statuses []*fyne.MenuItem
	for _, st := range api.Statuses {
		item := fyne.NewMenuItem(statusLabel(st), func() { a.chooseStatus(st) })
		item.Icon = glyph(st)
		item.Checked = a.account != nil && a.account.Status == st
		item.Disabled = a.account == nil
		statuses = append(statuses, item)
	}
	status := fyne.NewMenuItem(lang.L("My status"), nil)
	status.ChildMenu = fyne.NewMenu("", statuses...)
	status.Disabled = a.account == nil
	signOut := fyne.NewMenuItem(lang.L("Sign out"), a.doSignOut)
	signOut.Disabled = a.account == nil
	exit := fyne.NewMenuItem(lang.L("Exit"), a.fyne.Quit)
	// IsQuit: Fyne adds a Quit item to tray menus that lack one; Exit is ours.
	exit.IsQuit = true
	return fyne.NewMenu("EServer", open, fyne.NewMenuItemSeparator(), status, fyne.NewMenuItemSeparator(), signOut, exit)
}

// chooseStatus is a status picked from the tray.
func (a *App) chooseStatus(st api.Status) {
	if a.account == nil || a.account.Status == st {
		return
	}
	a.userChoseStatus()
	a.setPresence(api.PresenceUpdate{Status: &st})
}

// showFront brings back the window that matters now: the contact list when
// signed in, else the sign-in window.
func (a *App) showFront() {
	if a.account != nil {
		a.main.win.Show()
		a.main.win.RequestFocus()
		return
	}
	a.signIn.win.Show()
	a.signIn.win.RequestFocus()
	a.signIn.focus()
}
