package app

import (
	"context"
	"errors"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// "Sign me in automatically", as MSN had it: the password is kept in the
// desktop's keyring (Options.Keyring) after a successful sign-in, and the
// next start signs in with it. It is never kept anywhere else — not in the
// settings file, not in the profile — so where the desktop has no keyring
// the box cannot be checked, and says why. Signing out, unchecking the box
// or "Remember me" forget the password; a kept password the server no
// longer takes (changed on another computer) is forgotten too, and the
// sign-in window says so.

// prefAutoSignIn is the choice to sign in automatically (the password is in
// the keyring, not here).
const prefAutoSignIn = "signin.auto"

// noKeyringText is what the sign-in window says where there is no keyring.
func noKeyringText() string {
	return lang.L("No keyring on this desktop: EServer cannot remember your password")
}

// newAutoSignIn makes the sign-in window's "Sign me in automatically" box
// and the note under it. Whether the desktop has a keyring is asked at
// Start (it may take a D-Bus round trip); until then the box shows the
// remembered choice.
func (a *App) newAutoSignIn(s *signInWindow) {
	s.auto = widget.NewCheck(lang.L("Sign me in automatically"), nil)
	s.keyringNote = widget.NewLabel(noKeyringText())
	s.keyringNote.Importance = widget.LowImportance
	s.keyringNote.Wrapping = fyne.TextWrapWord
	s.keyringNote.SizeName = theme.SizeNameCaptionText
	s.keyringNote.Hide()
	if a.opts.Keyring == nil {
		a.noKeyring()
	} else {
		s.auto.SetChecked(a.prefs.Bool(prefAutoSignIn) && a.prefs.Bool(prefRemember))
	}
	// Set after the box shows the remembered choice: showing it is not
	// the person choosing.
	s.auto.OnChanged = a.setAutoSignIn
}

// noKeyring shows that the password cannot be kept. The choice stays in
// the settings: on a desktop with a keyring it works again.
func (a *App) noKeyring() {
	s := a.signIn
	onChanged := s.auto.OnChanged
	s.auto.OnChanged = nil
	s.auto.SetChecked(false)
	s.auto.OnChanged = onChanged
	s.auto.Disable()
	s.keyringNote.Show()
}

// setAutoSignIn is the person checking or unchecking the box.
func (a *App) setAutoSignIn(on bool) {
	a.prefs.SetBool(prefAutoSignIn, on)
	if on {
		// The username must be remembered to sign in with it.
		a.signIn.remember.SetChecked(true)
		return
	}
	a.forgetPassword(a.prefs.String(prefUsername))
}

// forgetPassword removes username's password from the keyring.
func (a *App) forgetPassword(username string) {
	kr := a.opts.Keyring
	if kr == nil || username == "" {
		return
	}
	a.command(func(context.Context) error { return kr.DeletePassword(username) }, func(err error) {
		if err != nil {
			fyne.LogError("forgetting the password", err)
		}
	})
}

// startAutoSignIn runs at Start: it asks whether there is a keyring and,
// when the person chose to sign in automatically, signs in with the
// password kept there.
func (a *App) startAutoSignIn() {
	kr := a.opts.Keyring
	if kr == nil {
		return
	}
	s := a.signIn
	user := foldUsername(s.username.Text)
	auto := s.auto.Checked && user != "" && a.account == nil
	var (
		available bool
		password  string
	)
	a.command(func(context.Context) error {
		if available = kr.Available(); !available || !auto {
			return nil
		}
		var err error
		password, err = kr.Password(user)
		return err
	}, func(err error) {
		if !available {
			a.noKeyring()
			return
		}
		if !auto || a.account != nil || !s.auto.Checked || foldUsername(s.username.Text) != user {
			return // the person signed in, or changed something, meanwhile
		}
		switch {
		case errors.Is(err, ErrNoPassword):
			// Removed from the keyring by hand: nothing to sign in with.
			s.auto.SetChecked(false)
			s.showError(lang.L("Your password is no longer in the keyring. Type it to sign in."))
		case err != nil:
			// A keyring that could not be opened (its unlock prompt
			// cancelled, say) may open next time: the choice stays.
			fyne.LogError("reading the password from the keyring", err)
			s.showError(lang.L("EServer could not read your password from the keyring. Type it to sign in."))
		default:
			s.password.SetText(password)
			s.autoAttempt = true
			a.doSignIn()
		}
	})
}

// signInFailed tells why signing in failed; when it was the automatic
// sign-in and the password is wrong, the kept password is forgotten.
func (a *App) signInFailed(err error, auto bool) {
	s := a.signIn
	if auto {
		// Nobody typed it: it must not stay in the box.
		s.password.SetText("")
	}
	if !auto || api.Code(err) != "login_failed" {
		s.showError(errorText(err))
		return
	}
	s.auto.SetChecked(false) // forgets the password
	s.showError(lang.L("EServer could not sign you in automatically: the password kept in your keyring is no longer right (was it changed on another computer?). Type your password to sign in."))
}

// keepPassword keeps the password of a successful sign-in in the keyring
// when the person chose to sign in automatically.
func (a *App) keepPassword(req api.LoginRequest, auto bool) {
	kr := a.opts.Keyring
	if kr == nil || !a.signIn.auto.Checked || a.signIn.auto.Disabled() || auto {
		return // an automatic sign-in used the kept one
	}
	a.command(func(context.Context) error { return kr.SetPassword(req.Username, req.Password) }, func(err error) {
		if err == nil {
			return
		}
		fyne.LogError("keeping the password", err)
		a.signIn.auto.SetChecked(false)
		dialog.ShowInformation(lang.L("Password not remembered"),
			lang.L("EServer could not keep your password in the desktop's keyring, so it cannot sign you in automatically next time. You are signed in now."), a.main.win)
	})
}

// forgetAutoSignIn is signing out: the next start asks for the password.
func (a *App) forgetAutoSignIn() {
	a.signIn.auto.SetChecked(false)
}
