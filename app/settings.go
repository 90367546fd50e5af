package app

import (
	"context"
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// settingsWindow is Tools → Options: what this computer does for the
// network. MSN had no such thing; on a peer-to-peer network the user
// decides whether their computer helps others (as a supernode).
type settingsWindow struct {
	win       fyne.Window
	supernode *widget.Check // the opt-in
	role      *widget.Label // what this computer does now, and why
	updating  bool          // set while showing node state, so the check's callback does not echo it
}

func (a *App) newSettingsWindow() *settingsWindow {
	s := &settingsWindow{win: a.fyne.NewWindow(a.title("Options"))}
	s.supernode = widget.NewCheck("Allow this computer to act as a supernode", func(on bool) {
		if s.updating {
			return
		}
		a.command(func(ctx context.Context) error { return a.api.SetSupernodeAllowed(ctx, on) }, func(err error) {
			if err != nil {
				s.role.SetText(errorText(err))
			}
		})
	})
	s.role = widget.NewLabel("")
	s.role.Wrapping = fyne.TextWrapWord
	explain := widget.NewLabel("A supernode keeps presence and mailboxes for other people's computers and relays " +
		"for those behind firewalls. It uses some of your upload bandwidth, and only starts when this computer " +
		"can be reached from the internet over TCP and QUIC and has 2 GB of memory free.")
	explain.Wrapping = fyne.TextWrapWord
	s.win.SetContent(container.NewVBox(
		widget.NewLabelWithStyle("Network", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		explain, s.supernode, s.role,
		container.NewHBox(widget.NewButton("Close", s.win.Hide)),
	))
	s.win.Resize(fyne.NewSize(420, 260))
	s.win.SetCloseIntercept(s.win.Hide)
	return s
}

// showOptions opens Tools → Options with the account's current state.
func (a *App) showOptions() {
	if a.settings == nil {
		a.settings = a.newSettingsWindow()
	}
	if a.account != nil {
		a.settings.setAccount(*a.account, a.lastRole)
	}
	a.settings.win.Show()
	a.settings.win.RequestFocus()
}

// setAccount shows the opt-in and the role of acc; last is the latest role
// change, whose reason is shown when it is the current role's.
func (s *settingsWindow) setAccount(acc api.Account, last *api.RoleEvent) {
	s.updating = true
	s.supernode.SetChecked(acc.SupernodeAllowed)
	s.updating = false
	s.showRole(acc.Role, last)
}

func (s *settingsWindow) showRole(r api.Role, e *api.RoleEvent) {
	text := "This computer is a node: it uses supernodes, and does not serve as one."
	if r == api.RoleSupernode {
		text = "This computer is a supernode: it serves other people's computers."
	}
	if e != nil && e.Role == r && e.Reason != "" {
		text += fmt.Sprintf(" (%s, since %s)", e.Reason, e.Time.Local().Format("15:04"))
		if e.Error != "" {
			text += " Last attempt failed: " + e.Error
		}
	}
	s.role.SetText(text)
}
