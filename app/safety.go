package app

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// Verifying a contact: both people compare the safety number (read it out
// on a call, or meet), or one pastes the other's code. It is how they know
// that no one — not a supernode, not the auth server — sits between their
// devices. MSN had nothing like it; every modern messenger does.

// safetyView is the "Verify security" dialog of a chat window.
type safetyView struct {
	dlg    *dialog.CustomDialog
	number *widget.Label  // 60 digits in groups
	state  *widget.Label  // verified or not, or what went wrong
	code   *widget.Label  // our code, to copy to the contact
	copy   *widget.Button // puts code on the clipboard
	theirs *widget.Entry  // the contact's code, pasted
	form   *widget.Form   // the two codes
	verify *widget.Button // mark as verified (checking theirs if pasted)
	unset  *widget.Button // take a verification back
}

// newSecurityBanner returns the warning shown above a conversation whose
// contact's device identity changed and was not verified since.
func (c *chatWindow) newSecurityBanner() *fyne.Container {
	c.warning = widget.NewLabel("")
	c.warning.Importance = widget.WarningImportance
	c.verifyBtn = widget.NewButtonWithIcon(lang.L("Verify…"), theme.WarningIcon(), c.showSafety)
	banner := container.NewBorder(nil, nil, nil, c.verifyBtn, c.warning)
	banner.Hide()
	return banner
}

// showSecurity updates the banner and the header's lock for ct.
func (c *chatWindow) showSecurity(ct api.Contact) {
	if ct.Verified {
		c.lock.SetText(lang.L("Verified"))
		c.lock.SetIcon(theme.ConfirmIcon())
	} else {
		c.lock.SetText(lang.L("Verify"))
		c.lock.SetIcon(theme.VisibilityIcon())
	}
	if ct.KeyChanged != nil && !ct.Verified {
		// Two short lines rather than a wrapped paragraph: a wrapping label
		// in a VBox is measured before its width is known.
		c.warning.SetText(lang.L("{{.Name}}'s security code changed ({{.When}}).\nA new computer — or someone in between? Verify it.",
			map[string]any{"Name": displayName(ct), "When": dateTimeText(*ct.KeyChanged)}))
		c.banner.Show()
	} else {
		c.banner.Hide()
	}
	if c.top != nil {
		c.top.Refresh()
	}
}

// showSafety opens the dialog with the safety number, fetched from the node.
func (c *chatWindow) showSafety() {
	if c.safety == nil {
		c.safety = c.newSafetyView()
	}
	v := c.safety
	v.number.SetText("…")
	v.state.SetText("")
	v.theirs.SetText("")
	v.dlg.Show()
	var got api.Safety
	c.app.command(func(ctx context.Context) (err error) {
		got, err = c.app.api.SafetyNumber(ctx, c.with)
		return err
	}, func(err error) {
		if err != nil {
			v.number.SetText("")
			v.state.SetText(errorText(err))
			v.fit()
			return
		}
		v.setSafety(got, c.app.nameOf(c.with))
		v.fit()
	})
}

// safetyWidth is the Verify dialog's width: room for a row of digits and
// for the explanation in two or three lines.
const safetyWidth = 440

// fit sizes the dialog for what it shows now. A dialog keeps the height it
// had when shown, and the number arrives after that — three lines where
// "…" was one — so without this its parts are drawn over each other.
func (v *safetyView) fit() {
	v.dlg.Resize(fyne.NewSize(safetyWidth, 0))
}

func (v *safetyView) setSafety(s api.Safety, name string) {
	// Three lines of four groups read out more easily than one long line.
	groups := strings.Fields(s.Number)
	var lines []string
	for i := 0; i < len(groups); i += 4 {
		lines = append(lines, strings.Join(groups[i:min(i+4, len(groups))], "  "))
	}
	v.number.SetText(strings.Join(lines, "\n"))
	v.code.SetText(s.Code)
	if s.Verified {
		v.state.SetText(lang.L("You have verified {{.Name}}.", map[string]any{"Name": name}))
		v.unset.Show()
	} else {
		v.state.SetText(lang.L("Compare these numbers with {{.Name}}'s. If they match, mark {{.Name}} as verified.", map[string]any{"Name": name}))
		v.unset.Hide()
	}
}

func (c *chatWindow) newSafetyView() *safetyView {
	v := &safetyView{}
	v.number = widget.NewLabelWithStyle("", fyne.TextAlignCenter, fyne.TextStyle{Monospace: true})
	v.state = widget.NewLabel("")
	v.state.Wrapping = fyne.TextWrapWord
	// Our code, whole (it wraps rather than scroll out of sight), to
	// select or to copy with the button: a disabled entry showed a third
	// of it and could not be selected.
	v.code = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	v.code.Wrapping = fyne.TextWrapBreak
	v.code.Selectable = true
	v.copy = widget.NewButtonWithIcon("", theme.ContentCopyIcon(), func() {
		c.app.fyne.Clipboard().SetContent(v.code.Text)
	})
	v.theirs = widget.NewEntry()
	v.theirs.SetPlaceHolder(lang.L("paste {{.Name}}'s code (optional)", map[string]any{"Name": c.app.nameOf(c.with)}))
	mark := func(verified bool) {
		code := strings.TrimSpace(v.theirs.Text)
		c.app.command(func(ctx context.Context) error {
			return c.app.api.VerifyContact(ctx, api.Verification{Username: c.with, Verified: verified, Code: code})
		}, func(err error) {
			if err != nil {
				v.state.SetText(errorText(err))
				v.fit()
				return
			}
			v.dlg.Hide()
		})
	}
	v.verify = widget.NewButtonWithIcon(lang.L("Mark as verified"), theme.ConfirmIcon(), func() { mark(true) })
	v.verify.Importance = widget.HighImportance
	v.unset = widget.NewButton(lang.L("Clear verification"), func() { mark(false) })
	v.unset.Hide()
	// Compact: the dialog lives inside the chat window.
	yours := container.NewBorder(nil, nil, nil, container.NewVBox(v.copy), v.code)
	v.form = widget.NewForm(widget.NewFormItem(lang.L("Your code"), yours), widget.NewFormItem(lang.L("Their code"), v.theirs))
	content := container.NewVBox(v.number, v.state, v.form)
	v.dlg = dialog.NewCustomWithoutButtons(lang.L("Safety number"), content, c.win)
	v.dlg.SetButtons([]fyne.CanvasObject{v.unset, widget.NewButton(lang.L("Close"), v.dlg.Hide), v.verify})
	v.dlg.Resize(fyne.NewSize(safetyWidth, 0))
	return v
}
