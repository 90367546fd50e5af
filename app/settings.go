package app

import (
	"context"
	"fmt"
	"slices"

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
	supernode *widget.Check  // the opt-in
	upload    *widget.Select // the upload cap granted to supernode duty
	role      *widget.Label  // what this computer does now, and why
	devices   *devicesView   // the account's devices
	updating  bool           // set while showing node state, so the callbacks do not echo it
}

// uploadCaps are the choices for the upload cap, in bytes per second.
var uploadCaps = []struct {
	label string
	rate  int64
}{
	{"No limit", 0},
	{"64 KB/s", 64 << 10},
	{"128 KB/s", 128 << 10},
	{"256 KB/s", 256 << 10},
	{"512 KB/s", 512 << 10},
	{"1 MB/s", 1 << 20},
	{"2 MB/s", 2 << 20},
	{"5 MB/s", 5 << 20},
	{"10 MB/s", 10 << 20},
}

// uploadCapLabel names rate as the menu does, or in KB/s when it is not
// one of the menu's (set through the daemon).
func uploadCapLabel(rate int64) string {
	for _, c := range uploadCaps {
		if c.rate == rate {
			return c.label
		}
	}
	return fmt.Sprintf("%d KB/s", rate>>10)
}

func (a *App) newSettingsWindow() *settingsWindow {
	s := &settingsWindow{win: a.fyne.NewWindow(a.title("Options"))}
	s.supernode = widget.NewCheck("Allow this computer to act as a supernode", func(on bool) {
		if s.updating {
			return
		}
		a.command(func(ctx context.Context) error {
			return a.api.SetSupernode(ctx, api.SupernodeSettings{Allowed: &on})
		}, func(err error) {
			if err != nil {
				s.role.SetText(errorText(err))
			}
		})
	})
	var labels []string
	for _, c := range uploadCaps {
		labels = append(labels, c.label)
	}
	s.upload = widget.NewSelect(labels, func(label string) {
		if s.updating {
			return
		}
		for _, c := range uploadCaps {
			if c.label != label {
				continue
			}
			rate := c.rate
			a.command(func(ctx context.Context) error {
				return a.api.SetSupernode(ctx, api.SupernodeSettings{UploadCap: &rate})
			}, func(err error) {
				if err != nil {
					s.role.SetText(errorText(err))
				}
			})
		}
	})
	s.role = widget.NewLabel("")
	s.role.Wrapping = fyne.TextWrapWord
	explain := widget.NewLabel("A supernode keeps presence and mailboxes for other people's computers and relays " +
		"for those behind firewalls. It uses some of your upload bandwidth, and only starts when this computer " +
		"can be reached from the internet over TCP and QUIC and has 2 GB of memory free.")
	explain.Wrapping = fyne.TextWrapWord
	s.devices = newDevicesView()
	s.win.SetContent(container.NewVBox(
		widget.NewLabelWithStyle("Network", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		explain, s.supernode,
		container.NewBorder(nil, nil, widget.NewLabel("Upload for other people:"), nil, s.upload),
		s.role,
		widget.NewSeparator(),
		widget.NewLabelWithStyle("Devices", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		s.devices.state, s.devices.box,
		container.NewHBox(widget.NewButton("Close", s.win.Hide)),
	))
	s.win.Resize(fyne.NewSize(460, 580))
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
		a.loadDevices(a.settings.devices)
	}
	a.settings.win.Show()
	a.settings.win.RequestFocus()
}

// setAccount shows the opt-in and the role of acc; last is the latest role
// change, whose reason is shown when it is the current role's.
func (s *settingsWindow) setAccount(acc api.Account, last *api.RoleEvent) {
	s.updating = true
	s.supernode.SetChecked(acc.SupernodeAllowed)
	label := uploadCapLabel(acc.SupernodeUploadCap)
	if !slices.Contains(s.upload.Options, label) {
		// A cap set elsewhere (the daemon): offer it too, so it shows.
		s.upload.SetOptions(append(s.upload.Options, label))
	}
	s.upload.SetSelected(label)
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
