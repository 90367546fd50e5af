package app

import (
	"context"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// The account's devices and password (File → Change password…, and the
// Devices part of Tools → Options). A lost or stolen computer is removed
// from another one: its tickets stop working everywhere.

// devicesView is the device list in the Options window.
type devicesView struct {
	box    *fyne.Container // one row per device
	state  *widget.Label   // loading, or what went wrong
	rows   map[string]*widget.Button
	remove *removeDialog // the open "Remove device" dialog of another device, if any
}

// removeDialog asks for the account's password before removing another
// device: the server wants a fresh proof of it, so a stolen computer that
// is still signed in cannot remove its owner's others.
type removeDialog struct {
	dlg      *dialog.CustomDialog
	password *widget.Entry
	errText  *widget.Label
	ok       *widget.Button
}

func newDevicesView() *devicesView {
	v := &devicesView{box: container.NewVBox(), state: widget.NewLabel(""), rows: map[string]*widget.Button{}}
	v.state.Wrapping = fyne.TextWrapWord
	return v
}

// loadDevices asks the node for the account's devices and shows them.
func (a *App) loadDevices(v *devicesView) {
	v.state.SetText(lang.L("Loading your devices…"))
	var ds []api.Device
	a.command(func(ctx context.Context) (err error) {
		ds, err = a.api.Devices(ctx)
		return err
	}, func(err error) {
		if err != nil {
			v.state.SetText(errorText(err))
			return
		}
		v.state.SetText("")
		v.box.RemoveAll()
		v.rows = map[string]*widget.Button{}
		// This computer first: it is the one the person is sure of, and
		// the rest read as "my other computers".
		slices.SortStableFunc(ds, func(x, y api.Device) int {
			switch {
			case x.Current == y.Current:
				return 0
			case x.Current:
				return -1
			}
			return 1
		})
		// Computers get their names from their host names, and two of
		// the same make can share one: those say when they were added.
		names := map[string]int{}
		for _, d := range ds {
			names[d.Name]++
		}
		for _, d := range ds {
			v.box.Add(a.deviceRow(v, d, names[d.Name] > 1))
		}
	})
}

// deviceRow is device d's row; sameName: another device has its name, so
// the row says when d was added.
func (a *App) deviceRow(v *devicesView, d api.Device, sameName bool) fyne.CanvasObject {
	name := d.Name
	if name == "" {
		name = lang.L("(unnamed)")
	}
	if d.Current {
		name = lang.L("{{.Name}} — this computer", map[string]any{"Name": name})
	}
	state := deviceState(d)
	if sameName && d.Revoked == nil {
		state = lang.L("{{.State}} · added {{.When}}", map[string]any{"State": state, "When": dateTimeText(d.FirstLogin)})
	}
	label := widget.NewLabel(name + "\n" + state)
	if d.Revoked != nil {
		label.Importance = widget.LowImportance
		return label
	}
	var info fyne.CanvasObject = label
	if !d.Listed {
		// The auth server knows it, but the account's signed list does
		// not name it (an older release's): contacts do not take it for
		// one of ours.
		warn := widget.NewLabel(lang.L("not confirmed by your account"))
		warn.Importance = widget.WarningImportance
		// Labels pad themselves: pulled up, it reads as the row's third line.
		info = container.New(layout.NewCustomPaddedVBoxLayout(-2*theme.Padding()), label, warn)
	}
	remove := widget.NewButton(lang.L("Remove"), func() {
		if !d.Current {
			a.showRemoveDevice(v, d)
			return
		}
		what := lang.L("Remove this computer from your account? It will be signed out and cannot sign in again with its current keys.")
		dialog.ShowConfirm(lang.L("Remove device"), what, func(ok bool) {
			if !ok {
				return
			}
			a.command(func(ctx context.Context) error { return a.api.RevokeDevice(ctx, d.PeerID, "") }, func(err error) {
				if err != nil {
					v.state.SetText(errorText(err))
				}
			})
		}, a.settings.win)
	})
	v.rows[d.PeerID] = remove
	return container.NewBorder(nil, nil, nil, remove, info)
}

// deviceState is a device's state in words: removed, online now, or when it
// was last seen.
func deviceState(d api.Device) string {
	switch {
	case d.Revoked != nil:
		return lang.L("removed {{.When}}", map[string]any{"When": dateTimeText(*d.Revoked)})
	case d.Online:
		return lang.L("Online now")
	default:
		return lang.L("Offline, last seen {{.When}}", map[string]any{"When": dateTimeText(d.LastSeen)})
	}
}

// showRemoveDevice asks for the password and removes device d, another
// than this one.
func (a *App) showRemoveDevice(v *devicesView, d api.Device) {
	r := &removeDialog{password: widget.NewPasswordEntry()}
	r.errText = widget.NewLabel("")
	r.errText.Importance = widget.DangerImportance
	r.errText.Wrapping = fyne.TextWrapWord
	what := widget.NewLabel(lang.L("Remove “{{.Name}}” from your account? It will be signed out everywhere and cannot sign in again with its current keys.", map[string]any{"Name": d.Name}))
	what.Wrapping = fyne.TextWrapWord
	form := widget.NewForm(widget.NewFormItem(lang.L("Your password"), r.password))
	r.ok = widget.NewButton(lang.L("Remove"), func() {
		pw := r.password.Text
		if pw == "" {
			r.errText.SetText(lang.L("Type your password to remove another device."))
			return
		}
		r.ok.Disable()
		a.command(func(ctx context.Context) error { return a.api.RevokeDevice(ctx, d.PeerID, pw) }, func(err error) {
			r.ok.Enable()
			if err != nil {
				if api.Code(err) == "login_failed" {
					r.errText.SetText(lang.L("The password is not right."))
				} else {
					r.errText.SetText(errorText(err))
				}
				return
			}
			r.dlg.Hide()
			a.loadDevices(v)
		})
	})
	r.ok.Importance = widget.DangerImportance
	r.password.OnSubmitted = func(string) { r.ok.OnTapped() }
	r.dlg = dialog.NewCustomWithoutButtons(lang.L("Remove device"), container.NewVBox(what, form, r.errText), a.settings.win)
	r.dlg.SetButtons([]fyne.CanvasObject{widget.NewButton(lang.L("Cancel"), func() { r.dlg.Hide() }), r.ok})
	r.dlg.Resize(fyne.NewSize(420, 0))
	v.remove = r
	r.dlg.Show()
}

// passwordDialog is File → Change password….
type passwordDialog struct {
	dlg             *dialog.CustomDialog
	old, new1, new2 *widget.Entry
	errText         *widget.Label
	ok              *widget.Button
}

func (a *App) showChangePassword() {
	d := &passwordDialog{old: widget.NewPasswordEntry(), new1: widget.NewPasswordEntry(), new2: widget.NewPasswordEntry()}
	d.errText = widget.NewLabel("")
	d.errText.Importance = widget.DangerImportance
	d.errText.Wrapping = fyne.TextWrapWord
	// Labels above their fields, and the rule wrapped under the new one:
	// a form's hint never wraps, and the rule made the dialog 580 px wide
	// in English, 690 in a long language.
	rule := widget.NewLabel(passwordRule())
	rule.Wrapping = fyne.TextWrapWord
	rule.Importance = widget.LowImportance
	rule.SizeName = theme.SizeNameCaptionText
	form := container.NewVBox(
		widget.NewLabel(lang.L("Current password")), d.old,
		widget.NewLabel(lang.L("New password")), d.new1, rule,
		widget.NewLabel(lang.L("New password again")), d.new2,
	)
	d.ok = widget.NewButton(lang.L("Change password"), func() {
		switch {
		case d.new1.Text == "":
			d.errText.SetText(lang.L("Type a new password."))
			return
		case d.new1.Text != d.new2.Text:
			d.errText.SetText(lang.L("The new passwords do not match."))
			return
		}
		// The server cannot judge a password it never sees (OPAQUE):
		// the rules of sign-up hold here too.
		if p := passwordProblem(a.me(), d.new1.Text); p != "" {
			d.errText.SetText(p)
			return
		}
		old, new := d.old.Text, d.new1.Text
		d.ok.Disable()
		a.command(func(ctx context.Context) error { return a.api.ChangePassword(ctx, old, new) }, func(err error) {
			d.ok.Enable()
			if err != nil {
				if api.Code(err) == "login_failed" {
					d.errText.SetText(lang.L("The current password is not right."))
				} else {
					d.errText.SetText(errorText(err))
				}
				return
			}
			d.dlg.Hide()
			dialog.ShowInformation(lang.L("Password changed"), lang.L("Your password was changed. Your other computers will ask for the new one when they next sign in."), a.main.win)
		})
	})
	d.ok.Importance = widget.HighImportance
	d.dlg = dialog.NewCustomWithoutButtons(lang.L("Change password"), container.NewVBox(form, d.errText), a.main.win)
	d.dlg.SetButtons([]fyne.CanvasObject{widget.NewButton(lang.L("Cancel"), func() { d.dlg.Hide() }), d.ok})
	d.dlg.Resize(fyne.NewSize(420, 0))
	a.passwordDlg = d
	d.dlg.Show()
}
