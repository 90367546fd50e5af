package app

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// signInWindow is MSN's sign-in window.
type signInWindow struct {
	win      fyne.Window
	avatar   *canvas.Image
	username *widget.Entry
	password *widget.Entry
	status   *widget.Select // "Sign in as"
	remember *widget.Check
	server   *widget.Entry // under "Advanced"
	advanced *widget.Accordion
	button   *widget.Button // "Sign in"
	signUp   *widget.Button // opens the sign-up dialog
	progress *widget.ProgressBarInfinite
	errText  *widget.Label

	signUpDialog *signUpDialog // nil until first opened
	// pictureFrom is the account picture last kept for this window
	// (signin_picture.go).
	pictureFrom string

	// "Sign me in automatically" (signin_auto.go): keyringNote says,
	// under the box, that the desktop has no keyring; autoAttempt is set
	// while signing in with the keyring's password.
	auto        *widget.Check
	keyringNote *widget.Label
	autoAttempt bool
}

// signUpDialog creates an account, then signs in with it. Under each field
// a hint says the rule while the person types, and what is wrong as soon as
// something is (rules.go).
type signUpDialog struct {
	dlg         *dialog.CustomDialog
	username    *widget.Entry
	userHint    *widget.Label
	password    *widget.Entry
	passHint    *widget.Label
	confirm     *widget.Entry
	confirmHint *widget.Label
	create      *widget.Button
	cancel      *widget.Button
	errText     *widget.Label
}

// signUpWidth is the sign-up dialog's width: the hints wrap inside it.
const signUpWidth = 320

// Settings keys (in the profile's Prefs). The password is never stored.
const (
	prefRemember = "signin.remember"
	prefUsername = "signin.username"
	prefServer   = "signin.server"
	prefStatus   = "signin.status"
)

// signInSize is the sign-in window's size: everything shows without
// scrolling, the "no keyring" note and an error included.
var signInSize = fyne.NewSize(340, 680)

func (a *App) newSignInWindow() *signInWindow {
	s := &signInWindow{win: a.fyne.NewWindow(a.title("EServer"))}
	prefs := a.prefs

	s.avatar = canvas.NewImageFromResource(avatarResource)
	s.avatar.FillMode = canvas.ImageFillContain
	s.avatar.SetMinSize(fyne.NewSquareSize(96))

	title := canvas.NewText("EServer", theme.Color(theme.ColorNamePrimary))
	title.TextSize = 26
	title.TextStyle = fyne.TextStyle{Bold: true}
	title.Alignment = fyne.TextAlignCenter
	sub := widget.NewLabelWithStyle("Messenger", fyne.TextAlignCenter, fyne.TextStyle{Italic: true}) // not translated: the program's name

	s.username = widget.NewEntry()
	s.username.SetPlaceHolder(lang.L("Username"))
	s.password = widget.NewPasswordEntry()
	s.password.SetPlaceHolder(lang.L("Password"))
	s.password.OnSubmitted = func(string) { a.doSignIn() }
	s.username.OnSubmitted = func(string) { s.win.Canvas().Focus(s.password) }

	s.status = widget.NewSelect(statusOptions(), nil)
	s.status.SetSelected(statusLabel(api.StatusOnline))
	if st := api.Status(prefs.String(prefStatus)); st.Valid() {
		s.status.SetSelected(statusLabel(st))
	}

	s.server = widget.NewEntry()
	s.server.SetPlaceHolder(lang.L("/ip4/…/tcp/…/p2p/… (empty: default)"))
	s.server.SetText(a.opts.DefaultServer)
	s.advanced = widget.NewAccordion(widget.NewAccordionItem(lang.L("Server"),
		container.NewVBox(widget.NewLabel(lang.L("Auth server address (multiaddr):")), s.server)))

	// "Sign me in automatically" keeps the password in the desktop's
	// keyring; a remembered username is what it signs in as.
	a.signIn = s
	a.newAutoSignIn(s)
	s.remember = widget.NewCheck(lang.L("Remember me"), func(on bool) {
		prefs.SetBool(prefRemember, on)
		if on {
			return
		}
		// Forgetting me forgets everything remembered.
		s.auto.SetChecked(false)
		prefs.RemoveValue(prefUsername)
		prefs.RemoveValue(prefServer)
		a.forgetSignInPicture()
	})
	if prefs.Bool(prefRemember) {
		s.remember.SetChecked(true)
		s.username.SetText(prefs.String(prefUsername))
		if srv := prefs.String(prefServer); srv != "" {
			s.server.SetText(srv)
		}
	}

	// The remembered account's picture shows while its name is typed.
	a.showSignInPicture()
	s.username.OnChanged = func(string) { a.showSignInPicture() }

	s.button = widget.NewButton(lang.L("Sign in"), a.doSignIn)
	s.button.Importance = widget.HighImportance
	s.signUp = widget.NewButton(lang.L("Don't have an account? Sign up"), a.showSignUp)
	s.signUp.Importance = widget.LowImportance
	s.progress = widget.NewProgressBarInfinite()
	s.progress.Hide()
	s.progress.Stop()
	s.errText = widget.NewLabel("")
	s.errText.Importance = widget.DangerImportance
	s.errText.Wrapping = fyne.TextWrapWord
	s.errText.Alignment = fyne.TextAlignCenter
	s.errText.Hide()

	form := container.NewVBox(
		widget.NewLabel(lang.L("Username:")), s.username,
		widget.NewLabel(lang.L("Password:")), s.password,
		container.NewBorder(nil, nil, widget.NewLabel(lang.L("Sign in as:")), nil, s.status),
		// The two choices and the note on the second sit together.
		container.New(layout.NewCustomPaddedVBoxLayout(0), s.remember, s.auto, s.keyringNote),
		container.NewCenter(container.NewGridWrap(fyne.NewSize(160, s.button.MinSize().Height), s.button)),
		s.progress, s.errText,
	)
	content := container.NewVBox(
		container.NewCenter(s.avatar), title, sub,
		container.NewPadded(form),
		layout.NewSpacer(),
		s.signUp, s.advanced,
	)
	s.win.SetContent(container.NewVScroll(container.NewPadded(content)))
	s.win.Resize(signInSize)
	s.win.SetMaster()
	s.win.SetIcon(iconResource)
	return s
}

// focus puts the cursor where typing starts: the password when the
// username is remembered.
func (s *signInWindow) focus() {
	if s.username.Text == "" {
		s.win.Canvas().Focus(s.username)
	} else {
		s.win.Canvas().Focus(s.password)
	}
}

// setBusy shows that a sign-in is in flight and stops a second one.
func (s *signInWindow) setBusy(busy bool) {
	if busy {
		s.errText.Hide()
		s.button.Disable()
		s.signUp.Disable()
		s.progress.Show()
		s.progress.Start()
		return
	}
	s.button.Enable()
	s.signUp.Enable()
	s.progress.Stop()
	s.progress.Hide()
}

func (s *signInWindow) showError(text string) {
	s.errText.SetText(text)
	s.errText.Show()
}

// server is the server the user chose, or the default.
func (a *App) server() string {
	if srv := strings.TrimSpace(a.signIn.server.Text); srv != "" {
		return srv
	}
	return a.opts.DefaultServer
}

// doSignIn signs in with what the sign-in window holds.
func (a *App) doSignIn() {
	s := a.signIn
	if s.button.Disabled() {
		return
	}
	req := api.LoginRequest{
		Server:   a.server(),
		Username: foldUsername(s.username.Text),
		Password: s.password.Text,
		Status:   api.StatusOnline,
	}
	if st, ok := statusFromLabel(s.status.Selected); ok {
		req.Status = st
	}
	if req.Username == "" || req.Password == "" {
		s.showError(lang.L("Please type your username and password."))
		return
	}
	if p := usernameProblem(req.Username); p != "" {
		// No account can have it: say why rather than ask the server.
		s.showError(p)
		return
	}
	s.setBusy(true)
	auto := s.autoAttempt
	s.autoAttempt = false
	var acc api.Account
	a.command(func(ctx context.Context) error {
		var err error
		acc, err = a.api.Login(ctx, req)
		return err
	}, func(err error) {
		s.setBusy(false)
		if err != nil {
			a.signInFailed(err, auto)
			return
		}
		a.rememberSignIn(req)
		a.keepPassword(req, auto)
		a.signedIn(acc)
	})
}

// rememberSignIn stores the username and server when "Remember me" is on.
func (a *App) rememberSignIn(req api.LoginRequest) {
	prefs := a.prefs
	prefs.SetString(prefStatus, string(req.Status))
	if !a.signIn.remember.Checked {
		return
	}
	prefs.SetString(prefUsername, req.Username)
	prefs.SetString(prefServer, strings.TrimSpace(a.signIn.server.Text))
}

// showSignUp opens the sign-up dialog.
func (a *App) showSignUp() {
	s := a.signIn
	if s.signUpDialog == nil {
		s.signUpDialog = a.newSignUpDialog()
	}
	d := s.signUpDialog
	d.username.SetText(strings.TrimSpace(s.username.Text))
	d.password.SetText("")
	d.confirm.SetText("")
	d.errText.Hide()
	d.create.Enable()
	d.showHints()
	d.dlg.Show()
	s.win.Canvas().Focus(d.username)
}

func (a *App) newSignUpDialog() *signUpDialog {
	hint := func() *widget.Label {
		l := widget.NewLabel("")
		l.Wrapping = fyne.TextWrapWord
		l.SizeName = theme.SizeNameCaptionText
		return l
	}
	d := &signUpDialog{
		username:    widget.NewEntry(),
		userHint:    hint(),
		password:    widget.NewPasswordEntry(),
		passHint:    hint(),
		confirm:     widget.NewPasswordEntry(),
		confirmHint: hint(),
		errText:     widget.NewLabel(""),
	}
	d.username.SetPlaceHolder(lang.L("e.g. alice.smith"))
	d.errText.Importance = widget.DangerImportance
	d.errText.Wrapping = fyne.TextWrapWord
	d.errText.Hide()
	for _, e := range []*widget.Entry{d.username, d.password, d.confirm} {
		e.OnChanged = func(string) { d.showHints() }
	}
	d.username.OnSubmitted = func(string) { a.signIn.win.Canvas().Focus(d.password) }
	d.password.OnSubmitted = func(string) { a.signIn.win.Canvas().Focus(d.confirm) }
	d.confirm.OnSubmitted = func(string) { a.doSignUp() }
	d.create = widget.NewButton(lang.L("Sign up"), a.doSignUp)
	d.create.Importance = widget.HighImportance
	d.cancel = widget.NewButton(lang.L("Cancel"), func() { d.dlg.Hide() })
	field := func(label string, entry *widget.Entry, hint *widget.Label) fyne.CanvasObject {
		return container.New(layout.NewCustomPaddedVBoxLayout(2),
			widget.NewLabelWithStyle(label, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), entry, hint)
	}
	content := container.NewVBox(
		field(lang.L("Username"), d.username, d.userHint),
		field(lang.L("Password"), d.password, d.passHint),
		field(lang.L("Confirm password"), d.confirm, d.confirmHint),
		d.errText,
	)
	d.dlg = dialog.NewCustomWithoutButtons(lang.L("Create an EServer account"), content, a.signIn.win)
	d.dlg.SetButtons([]fyne.CanvasObject{d.cancel, d.create})
	d.fit()
	return d
}

// fit sizes the dialog for its hints, which grow and shrink as the person
// types: a dialog keeps the height it was shown with otherwise, and its
// parts would be drawn over each other.
func (d *signUpDialog) fit() { d.dlg.Resize(fyne.NewSize(signUpWidth, 0)) }

// showHints says, under each field, the rule or what is wrong with what is
// typed there.
func (d *signUpDialog) showHints() {
	set := func(l *widget.Label, text string, imp widget.Importance) {
		l.Importance = imp
		l.SetText(text)
		l.Show()
	}
	typed := strings.TrimSpace(d.username.Text)
	user := foldUsername(typed)
	switch p := usernameProblem(user); {
	case user == "":
		set(d.userHint, usernameRule(), widget.LowImportance)
	case p != "":
		set(d.userHint, p, widget.DangerImportance)
	case user != typed:
		set(d.userHint, lang.L("You will sign in as \u201c{{.Username}}\u201d: usernames are lower case.", map[string]any{"Username": user}),
			widget.SuccessImportance)
	default:
		set(d.userHint, lang.L("You will sign in as \u201c{{.Username}}\u201d.", map[string]any{"Username": user}), widget.SuccessImportance)
	}
	switch p := passwordProblem(user, d.password.Text); {
	case d.password.Text == "":
		set(d.passHint, passwordRule(), widget.LowImportance)
	case p != "":
		set(d.passHint, p, widget.DangerImportance)
	default:
		set(d.passHint, lang.L("A good password. Keep it safe: nobody, not even the server, can recover it."), widget.SuccessImportance)
	}
	switch {
	case d.confirm.Text == "":
		d.confirmHint.Hide()
	case d.confirm.Text != d.password.Text:
		set(d.confirmHint, lang.L("The passwords do not match yet."), widget.DangerImportance)
	default:
		set(d.confirmHint, lang.L("The passwords match."), widget.SuccessImportance)
	}
	d.fit()
}

// doSignUp registers the account typed in the sign-up dialog, then signs in.
func (a *App) doSignUp() {
	d := a.signIn.signUpDialog
	if d.create.Disabled() {
		return
	}
	user, pass := foldUsername(d.username.Text), d.password.Text
	fail := func(text string) {
		d.errText.SetText(text)
		d.errText.Show()
		d.fit()
	}
	if user == "" || pass == "" {
		fail(lang.L("Please choose a username and a password."))
		return
	}
	if p := usernameProblem(user); p != "" {
		fail(p)
		return
	}
	if p := passwordProblem(user, pass); p != "" {
		fail(p)
		return
	}
	if pass != d.confirm.Text {
		fail(lang.L("The passwords do not match."))
		return
	}
	d.create.Disable()
	d.errText.Hide()
	server := a.server()
	a.command(func(ctx context.Context) error {
		return a.api.Register(ctx, server, user, pass)
	}, func(err error) {
		d.create.Enable()
		if err != nil {
			fail(errorText(err))
			return
		}
		d.dlg.Hide()
		a.signIn.username.SetText(user)
		a.signIn.password.SetText(pass)
		a.doSignIn()
	})
}
