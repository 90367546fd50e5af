package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// settingsWindow is Tools → Options, in sections as MSN's Options dialog
// had them: Profile, General, Appearance, Network, Storage, Devices and
// Audio.
// Network also holds what MSN never had: on a peer-to-peer network the user
// decides whether their computer helps others (as a supernode).
type settingsWindow struct {
	win  fyne.Window
	tabs *container.AppTabs

	// Profile: our nick and personal message, sent with SetPresence.
	nick        *widget.Entry
	subnick     *widget.Entry
	saveProfile *widget.Button

	// General.
	notifySignIn   *widget.Check
	notifyMessages *widget.Check
	sounds         *widget.Check
	away           *widget.Select // idle minutes before Away, or Never
	language       *widget.Select // Languages by their own names; applied at the next start
	languageNote   *widget.Label  // says so when the choice is not the language in use

	// Appearance.
	theme    *widget.RadioGroup
	pictures *widget.RadioGroup // contacts' display pictures in the list: large, small, none

	// Network.
	supernode *widget.Check  // the opt-in
	upload    *widget.Select // the upload cap granted to supernode duty
	role      *widget.Label  // what this computer does now, and why
	port      *widget.Entry  // the listening port at the next start; empty: automatic
	portNote  *widget.Label

	// Storage.
	downloads     *widget.Label // the received-files folder chosen for the next start
	chooseFolder  *widget.Button
	defaultFolder *widget.Button

	devices  *devicesView   // the account's devices
	audio    *audioSettings // Audio: the devices calls use (settings_audio.go)
	updating bool           // set while showing node state, so the callbacks do not echo it
}

// Settings the node reads when it starts (node.Config): where they are
// changed takes effect at the next start, and Options says so.
const (
	prefListenPort  = "network.port"      // int, 0: chosen by the OS
	prefDownloadDir = "storage.downloads" // string, "": the node's default
	prefLanguage    = "display.language"  // string, "": the system's
)

// StartSettings are the choices in Options that the node takes at start.
type StartSettings struct {
	// ListenPort is the TCP and UDP (QUIC) port to listen on; 0 lets the
	// OS choose one, as the node does by default.
	ListenPort int
	// DownloadDir is where accepted files go; "" is the node's default.
	DownloadDir string
	// Language is the chosen language's code (Languages); "" follows the
	// system. main passes it to UseLanguage before any window is built.
	Language string
}

// ReadStartSettings reads the start settings from a profile's settings
// (OpenPrefs), for main to put in node.Config before the app starts.
func ReadStartSettings(p fyne.Preferences) StartSettings {
	s := StartSettings{
		ListenPort:  p.Int(prefListenPort),
		DownloadDir: p.String(prefDownloadDir),
		Language:    p.String(prefLanguage),
	}
	if !slices.ContainsFunc(Languages, func(l Language) bool { return l.Code == s.Language }) {
		s.Language = "" // a hand-edited preference falls back to the system's
	}
	if s.ListenPort < 0 || s.ListenPort > 65535 {
		s.ListenPort = 0 // a hand-edited preference must not stop the app starting
	}
	return s
}

// Listen is node.Config.Listen for s: nil (the node's default, every
// interface with ports the OS picks) unless a port was chosen.
func (s StartSettings) Listen() []string {
	if s.ListenPort == 0 {
		return nil
	}
	return []string{
		fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", s.ListenPort),
		fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", s.ListenPort),
	}
}

// uploadCapRates are the choices for the upload cap, in bytes per second;
// 0 is no limit.
var uploadCapRates = []int64{0, 64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 5 << 20, 10 << 20}

// uploadCapLabel names rate as the menu does, or in KB/s when it is not
// one of the menu's (set through the daemon).
func uploadCapLabel(rate int64) string {
	switch {
	case rate == 0:
		return lang.L("No limit")
	case rate >= 1<<20 && slices.Contains(uploadCapRates, rate):
		return lang.L("{{.N}} MB/s", map[string]any{"N": strconv.FormatInt(rate>>20, 10)})
	}
	return lang.L("{{.N}} KB/s", map[string]any{"N": strconv.FormatInt(rate>>10, 10)})
}

func (a *App) newSettingsWindow() *settingsWindow {
	s := &settingsWindow{win: a.fyne.NewWindow(a.title(lang.L("Options")))}
	s.tabs = container.NewAppTabs(
		container.NewTabItem(lang.L("Profile"), a.profileSection(s)),
		container.NewTabItem(lang.L("General"), a.generalSection(s)),
		container.NewTabItem(lang.L("Appearance"), a.appearanceSection(s)),
		container.NewTabItem(lang.L("Network"), a.networkSection(s)),
		container.NewTabItem(lang.L("Storage"), a.storageSection(s)),
		container.NewTabItem(lang.L("Devices"), a.devicesSection(s)),
		container.NewTabItem(lang.L("Audio"), a.audioSection(s)),
	)
	// The microphone test runs only while its tab shows.
	s.tabs.OnUnselected = func(*container.TabItem) { s.audio.stopTest() }
	// Sections listed on the left, as MSN's Options dialog had them; text
	// only, so all seven fit without an overflow menu.
	s.tabs.SetTabLocation(container.TabLocationLeading)
	closeBtn := widget.NewButton(lang.L("Close"), s.hide)
	s.win.SetContent(container.NewBorder(nil,
		container.NewPadded(container.NewHBox(layout.NewSpacer(), closeBtn)), nil, nil, s.tabs))
	s.win.Resize(fyne.NewSize(640, 520))
	s.win.SetIcon(iconResource)
	s.win.SetCloseIntercept(s.hide)
	return s
}

// hide closes Options, for now: it is kept for next time, but the
// microphone test stops.
func (s *settingsWindow) hide() {
	s.audio.stopTest()
	s.win.Hide()
}

// section is a titled page of Options; long pages scroll.
func section(title string, objs ...fyne.CanvasObject) fyne.CanvasObject {
	head := widget.NewLabelWithStyle(title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	return container.NewVScroll(container.NewPadded(container.NewVBox(append([]fyne.CanvasObject{head}, objs...)...)))
}

// note is a wrapped explanation under a setting.
func note(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	l.Importance = widget.LowImportance
	return l
}

func (a *App) profileSection(s *settingsWindow) fyne.CanvasObject {
	s.nick = widget.NewEntry()
	s.nick.SetPlaceHolder(lang.L("The name your contacts see"))
	s.subnick = widget.NewEntry()
	s.subnick.SetPlaceHolder(lang.L("Share a quick message"))
	s.saveProfile = widget.NewButton(lang.L("Save"), func() {
		if a.account == nil {
			return
		}
		var u api.PresenceUpdate
		if nick := strings.TrimSpace(s.nick.Text); nick != a.account.Nick {
			u.Nick = &nick
		}
		if sub := s.subnick.Text; sub != a.account.Subnick {
			u.Subnick = &sub
		}
		if u.Nick != nil || u.Subnick != nil {
			a.setPresence(u)
		}
	})
	s.saveProfile.Importance = widget.HighImportance
	s.nick.OnSubmitted = func(string) { s.saveProfile.OnTapped() }
	s.subnick.OnSubmitted = func(string) { s.saveProfile.OnTapped() }
	return section(lang.L("Profile"),
		widget.NewForm(
			widget.NewFormItem(lang.L("Display name"), s.nick),
			widget.NewFormItem(lang.L("Personal message"), s.subnick),
		),
		container.NewHBox(layout.NewSpacer(), s.saveProfile),
		note(lang.L("Your display name and personal message are shown to your contacts beside your status.")),
	)
}

func (a *App) generalSection(s *settingsWindow) fyne.CanvasObject {
	prefs := a.prefs
	check := func(label, key string) *widget.Check {
		c := widget.NewCheck(label, func(on bool) { prefs.SetBool(key, on) })
		c.SetChecked(a.prefBool(key))
		return c
	}
	s.notifySignIn = check(lang.L("Show a notification when a contact signs in"), prefNotifySignIn)
	s.notifyMessages = check(lang.L("Show a notification when a message, nudge or file arrives"), prefNotifyMessages)
	s.sounds = check(lang.L("Play sounds"), prefSounds)
	var labels []string
	for _, m := range awayChoices {
		labels = append(labels, awayLabel(m))
	}
	s.away = widget.NewSelect(labels, func(label string) {
		for _, m := range awayChoices {
			if awayLabel(m) == label {
				prefs.SetInt(prefAwayMinutes, m)
			}
		}
	})
	s.away.SetSelected(awayLabel(a.awayMinutes()))
	return section(lang.L("General"),
		container.NewBorder(nil, nil, widget.NewLabel(lang.L("Language:")), nil, a.languageChoice(s)),
		s.languageNote,
		widget.NewSeparator(),
		s.notifySignIn, s.notifyMessages, s.sounds,
		note(lang.L("While your status is Busy, EServer shows no notifications and plays no sounds.")),
		widget.NewSeparator(),
		container.NewBorder(nil, nil, widget.NewLabel(lang.L("Show me as Away when I am inactive for")), nil, s.away),
		note(lang.L("Only when you are Available: Busy, Appear offline and the other statuses you choose stay as they are. You are shown as Available again as soon as you use the keyboard or mouse.")),
	)
}

// languageChoice is General's Language setting: the system's language or
// one of Languages, each by its own name, kept per profile for the next
// start (ReadStartSettings). Fyne cannot translate windows already built,
// so a note says when the choice waits for the next start.
func (a *App) languageChoice(s *settingsWindow) *widget.Select {
	names := make([]string, len(Languages))
	for i, l := range Languages {
		names[i] = languageName(l.Code)
	}
	s.languageNote = note(lang.L("The language changes the next time EServer starts."))
	s.language = widget.NewSelect(names, func(name string) {
		for _, l := range Languages {
			if languageName(l.Code) != name {
				continue
			}
			a.prefs.SetString(prefLanguage, l.Code)
			s.showLanguage(a.opts.Started.Language, l.Code)
		}
	})
	chosen := ReadStartSettings(a.prefs).Language
	s.language.SetSelected(languageName(chosen))
	s.showLanguage(a.opts.Started.Language, chosen)
	return s.language
}

// showLanguage shows the note when the next start's language, next, is not
// the one in use, now.
func (s *settingsWindow) showLanguage(now, next string) {
	if next == now {
		s.languageNote.Hide()
	} else {
		s.languageNote.Show()
	}
}

func (a *App) appearanceSection(s *settingsWindow) fyne.CanvasObject {
	var labels []string
	for _, c := range themeChoices() {
		labels = append(labels, c.label)
	}
	s.theme = widget.NewRadioGroup(labels, func(label string) {
		for _, c := range themeChoices() {
			if c.label == label && c.name != a.themeName() {
				a.setTheme(c.name)
			}
		}
	})
	s.theme.Required = true
	for _, c := range themeChoices() {
		if c.name == a.themeName() {
			s.theme.SetSelected(c.label)
		}
	}
	return section(lang.L("Appearance"), widget.NewLabel(lang.L("Colours:")), s.theme,
		note(lang.L("The change applies to every window at once.")),
		widget.NewSeparator(), widget.NewLabel(lang.L("Contacts' display pictures in the contact list:")), a.picturesChoice(s))
}

func (a *App) networkSection(s *settingsWindow) fyne.CanvasObject {
	s.supernode = widget.NewCheck(lang.L("Allow this computer to act as a supernode"), func(on bool) {
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
	for _, rate := range uploadCapRates {
		labels = append(labels, uploadCapLabel(rate))
	}
	s.upload = widget.NewSelect(labels, func(label string) {
		if s.updating {
			return
		}
		for _, rate := range uploadCapRates {
			if uploadCapLabel(rate) != label {
				continue
			}
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
	explain := note(lang.L("A supernode keeps presence and mailboxes for other people's computers and relays for those behind firewalls. It uses some of your upload bandwidth, and only starts when this computer can be reached from the internet over TCP and QUIC and has 2 GB of memory free."))

	prefs := a.prefs
	s.port = widget.NewEntry()
	s.port.SetPlaceHolder(lang.L("automatic"))
	if p := prefs.Int(prefListenPort); p > 0 {
		s.port.SetText(strconv.Itoa(p))
	}
	s.port.Validator = validPort
	s.portNote = note("")
	s.port.OnChanged = func(text string) {
		if validPort(text) != nil {
			return // the entry shows what is wrong; the last good value stays
		}
		p, _ := strconv.Atoi(strings.TrimSpace(text))
		prefs.SetInt(prefListenPort, p)
		s.showPort(a.opts.Started.ListenPort, p)
	}
	s.showPort(a.opts.Started.ListenPort, prefs.Int(prefListenPort))
	return section(lang.L("Network"),
		explain, s.supernode,
		container.NewBorder(nil, nil, widget.NewLabel(lang.L("Upload for other people:")), nil, s.upload),
		s.role,
		widget.NewSeparator(),
		container.NewBorder(nil, nil, widget.NewLabel(lang.L("Listening port (TCP and UDP):")), nil, s.port),
		s.portNote,
	)
}

// validPort accepts a port number or nothing (automatic).
func validPort(text string) error {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	p, err := strconv.Atoi(text)
	if err != nil || p < 1 || p > 65535 {
		return errors.New(lang.L("A port is a number from 1 to 65535."))
	}
	return nil
}

// showPort says which port is in use and which the next start will use.
func (s *settingsWindow) showPort(now, next int) {
	// Port numbers are written without grouping: 4242, not 4.242.
	text := lang.L("EServer listens on a port chosen automatically.")
	if now != 0 {
		text = lang.L("EServer listens on port {{.Port}}.", map[string]any{"Port": strconv.Itoa(now)})
	}
	if next != now {
		if next == 0 {
			text += " " + lang.L("It will use a port chosen automatically from the next start.")
		} else {
			text += " " + lang.L("It will use port {{.Port}} from the next start.", map[string]any{"Port": strconv.Itoa(next)})
		}
	}
	text += " " + lang.L("A fixed port lets you forward it on your router, so contacts can reach you directly.")
	s.portNote.SetText(text)
}

func (a *App) storageSection(s *settingsWindow) fyne.CanvasObject {
	prefs := a.prefs
	profile := widget.NewLabel(a.opts.ProfileDir)
	profile.Wrapping = fyne.TextWrapBreak
	if a.opts.ProfileDir == "" {
		profile.SetText(lang.L("(not known)"))
	}
	openProfile := widget.NewButtonWithIcon(lang.L("Open folder"), theme.FolderOpenIcon(), func() {
		// openFolder shows the folder holding a file: the profile's own file is in the profile folder.
		a.openFolder(filepath.Join(a.opts.ProfileDir, "profile.json"))
	})
	if a.opts.ProfileDir == "" {
		openProfile.Disable()
	}
	s.downloads = widget.NewLabel("")
	s.downloads.Wrapping = fyne.TextWrapBreak
	s.chooseFolder = widget.NewButtonWithIcon(lang.L("Change…"), theme.FolderIcon(), func() {
		cur := prefs.String(prefDownloadDir)
		if cur == "" {
			cur = a.opts.Started.DownloadDir
		}
		pickFolder(s.win, lang.L("Save the files you accept in"), cur, func(dir string) { a.setDownloadDir(s, dir) })
	})
	s.defaultFolder = widget.NewButton(lang.L("Use the default"), func() { a.setDownloadDir(s, "") })
	s.showDownloads(a.opts.Started.DownloadDir, prefs.String(prefDownloadDir))
	return section(lang.L("Storage"),
		widget.NewLabel(lang.L("Your profile (account keys, contacts and history) is kept in:")), profile,
		container.NewHBox(openProfile),
		widget.NewSeparator(),
		widget.NewLabel(lang.L("Files you accept are saved in:")), s.downloads,
		container.NewHBox(s.chooseFolder, s.defaultFolder),
	)
}

// setDownloadDir remembers the received-files folder for the next start.
func (a *App) setDownloadDir(s *settingsWindow, dir string) {
	a.prefs.SetString(prefDownloadDir, dir)
	s.showDownloads(a.opts.Started.DownloadDir, dir)
}

func (s *settingsWindow) showDownloads(now, next string) {
	name := func(dir string) string {
		if dir == "" {
			return lang.L("your Downloads folder (or \"received\" in your profile when there is none)")
		}
		return dir
	}
	text := name(now)
	if next != now {
		text += "\n" + lang.L("From the next start: {{.Folder}}", map[string]any{"Folder": name(next)})
	}
	s.downloads.SetText(text)
	if next == "" {
		s.defaultFolder.Disable()
	} else {
		s.defaultFolder.Enable()
	}
}

func (a *App) devicesSection(s *settingsWindow) fyne.CanvasObject {
	s.devices = newDevicesView()
	return section(lang.L("Devices"),
		note(lang.L("The computers signed in to your account. Remove one you lost: it can no longer sign in or read new messages.")),
		s.devices.state, s.devices.box)
}

// showOptions opens Tools → Options with the account's current state.
func (a *App) showOptions() {
	if a.settings == nil {
		a.settings = a.newSettingsWindow()
	}
	if a.account != nil {
		a.settings.setAccount(*a.account, a.lastRole)
		a.settings.nick.SetText(a.nameOf(a.me()))
		a.settings.subnick.SetText(a.account.Subnick)
		a.loadDevices(a.settings.devices)
		a.loadAudioDevices(a.settings.audio)
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
	text := lang.L("This computer is a node: it uses supernodes, and does not serve as one.")
	if r == api.RoleSupernode {
		text = lang.L("This computer is a supernode: it serves other people's computers.")
	}
	if e != nil && e.Role == r && e.Reason != "" {
		text += " " + lang.L("Since {{.Time}}: {{.Reason}}.", map[string]any{"Time": e.Time.Local().Format("15:04"), "Reason": roleReason(e.Reason)})
		if e.Error != "" {
			fyne.LogError("becoming a supernode", errors.New(e.Error)) // the detail, for whoever reads the log
			text += " " + lang.L("The last attempt to become a supernode failed.")
		}
	}
	s.role.SetText(text)
}

// roleReason says in the language in use why the role changed: the node
// names the condition with one of api's RoleReason words, for programs and
// logs.
func roleReason(reason string) string {
	switch reason {
	case api.RoleReasonConditionsHold:
		return lang.L("all the conditions hold")
	case api.RoleReasonOptedOut:
		return lang.L("you have not allowed it")
	case api.RoleReasonNotPublic:
		return lang.L("this computer cannot be reached from the internet")
	case api.RoleReasonNoTCP:
		return lang.L("there is no public TCP address")
	case api.RoleReasonNoQUIC:
		return lang.L("there is no public QUIC address")
	case api.RoleReasonLowMemory:
		return lang.L("there is not enough free memory")
	case api.RoleReasonStartFailed:
		return lang.L("the supernode services could not start")
	case api.RoleReasonShutdown:
		return lang.L("EServer is closing")
	}
	return lang.L("the conditions changed")
}
