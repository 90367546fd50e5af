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
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// settingsWindow is Tools → Options, in sections as MSN's Options dialog
// had them: Profile, General, Appearance, Network, Storage and Devices.
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

	devices  *devicesView // the account's devices
	updating bool         // set while showing node state, so the callbacks do not echo it
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
	s.tabs = container.NewAppTabs(
		container.NewTabItem("Profile", a.profileSection(s)),
		container.NewTabItem("General", a.generalSection(s)),
		container.NewTabItem("Appearance", a.appearanceSection(s)),
		container.NewTabItem("Network", a.networkSection(s)),
		container.NewTabItem("Storage", a.storageSection(s)),
		container.NewTabItem("Devices", a.devicesSection(s)),
	)
	// Sections listed on the left, as MSN's Options dialog had them; text
	// only, so all six fit without an overflow menu.
	s.tabs.SetTabLocation(container.TabLocationLeading)
	closeBtn := widget.NewButton("Close", s.win.Hide)
	s.win.SetContent(container.NewBorder(nil,
		container.NewPadded(container.NewHBox(layout.NewSpacer(), closeBtn)), nil, nil, s.tabs))
	s.win.Resize(fyne.NewSize(640, 520))
	s.win.SetIcon(iconResource)
	s.win.SetCloseIntercept(s.win.Hide)
	return s
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
	s.nick.SetPlaceHolder("The name your contacts see")
	s.subnick = widget.NewEntry()
	s.subnick.SetPlaceHolder("Share a quick message")
	s.saveProfile = widget.NewButton("Save", func() {
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
	return section("Profile",
		widget.NewForm(
			widget.NewFormItem("Display name", s.nick),
			widget.NewFormItem("Personal message", s.subnick),
		),
		container.NewHBox(layout.NewSpacer(), s.saveProfile),
		note("Your display name and personal message are shown to your contacts beside your status."),
	)
}

func (a *App) generalSection(s *settingsWindow) fyne.CanvasObject {
	prefs := a.prefs
	check := func(label, key string) *widget.Check {
		c := widget.NewCheck(label, func(on bool) { prefs.SetBool(key, on) })
		c.SetChecked(a.prefBool(key))
		return c
	}
	s.notifySignIn = check("Show a notification when a contact signs in", prefNotifySignIn)
	s.notifyMessages = check("Show a notification when a message, nudge or file arrives", prefNotifyMessages)
	s.sounds = check("Play sounds", prefSounds)
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
	return section("General",
		s.notifySignIn, s.notifyMessages, s.sounds,
		note("While your status is Busy, EServer shows no notifications and plays no sounds."),
		widget.NewSeparator(),
		container.NewBorder(nil, nil, widget.NewLabel("Show me as Away when I am inactive for"), nil, s.away),
		note("Only when you are Available: Busy, Appear offline and the other statuses you choose stay as they are. "+
			"You are shown as Available again as soon as you use the keyboard or mouse."),
	)
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
	return section("Appearance", widget.NewLabel("Colours:"), s.theme,
		note("The change applies to every window at once."),
		widget.NewSeparator(), widget.NewLabel("Contacts' display pictures in the contact list:"), a.picturesChoice(s))
}

func (a *App) networkSection(s *settingsWindow) fyne.CanvasObject {
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
	explain := note("A supernode keeps presence and mailboxes for other people's computers and relays " +
		"for those behind firewalls. It uses some of your upload bandwidth, and only starts when this computer " +
		"can be reached from the internet over TCP and QUIC and has 2 GB of memory free.")

	prefs := a.prefs
	s.port = widget.NewEntry()
	s.port.SetPlaceHolder("automatic")
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
	return section("Network",
		explain, s.supernode,
		container.NewBorder(nil, nil, widget.NewLabel("Upload for other people:"), nil, s.upload),
		s.role,
		widget.NewSeparator(),
		container.NewBorder(nil, nil, widget.NewLabel("Listening port (TCP and UDP):"), nil, s.port),
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
		return errors.New("a port is a number from 1 to 65535")
	}
	return nil
}

// showPort says which port is in use and which the next start will use.
func (s *settingsWindow) showPort(now, next int) {
	name := func(p int) string {
		if p == 0 {
			return "a port chosen automatically"
		}
		return fmt.Sprintf("port %d", p)
	}
	text := "EServer listens on " + name(now) + "."
	if next != now {
		text += " It will use " + name(next) + " from the next start."
	}
	text += " A fixed port lets you forward it on your router, so contacts can reach you directly."
	s.portNote.SetText(text)
}

func (a *App) storageSection(s *settingsWindow) fyne.CanvasObject {
	prefs := a.prefs
	profile := widget.NewLabel(a.opts.ProfileDir)
	profile.Wrapping = fyne.TextWrapBreak
	if a.opts.ProfileDir == "" {
		profile.SetText("(not known)")
	}
	openProfile := widget.NewButtonWithIcon("Open folder", theme.FolderOpenIcon(), func() {
		// openFolder shows the folder holding a file: the profile's own file is in the profile folder.
		a.openFolder(filepath.Join(a.opts.ProfileDir, "profile.json"))
	})
	if a.opts.ProfileDir == "" {
		openProfile.Disable()
	}
	s.downloads = widget.NewLabel("")
	s.downloads.Wrapping = fyne.TextWrapBreak
	s.chooseFolder = widget.NewButtonWithIcon("Change…", theme.FolderIcon(), func() {
		cur := prefs.String(prefDownloadDir)
		if cur == "" {
			cur = a.opts.Started.DownloadDir
		}
		pickFolder(s.win, "Save the files you accept in", cur, func(dir string) { a.setDownloadDir(s, dir) })
	})
	s.defaultFolder = widget.NewButton("Use the default", func() { a.setDownloadDir(s, "") })
	s.showDownloads(a.opts.Started.DownloadDir, prefs.String(prefDownloadDir))
	return section("Storage",
		widget.NewLabel("Your profile (account keys, contacts and history) is kept in:"), profile,
		container.NewHBox(openProfile),
		widget.NewSeparator(),
		widget.NewLabel("Files you accept are saved in:"), s.downloads,
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
			return "your Downloads folder (or \"received\" in your profile when there is none)"
		}
		return dir
	}
	text := name(now)
	if next != now {
		text += "\nFrom the next start: " + name(next)
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
	return section("Devices",
		note("The computers signed in to your account. Remove one you lost: it can no longer sign in or read new messages."),
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
