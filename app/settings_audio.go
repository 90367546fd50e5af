package app

import (
	"context"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// micWindow is how long each MicrophoneLevel call of the microphone test
// listens: the level bar moves five times a second.
const micWindow = 200 * time.Millisecond

// audioSettings is Options → Audio: the microphone and speakers calls
// use, and a microphone test with a level bar.
type audioSettings struct {
	a      *App
	input  *widget.Select
	output *widget.Select
	ids    map[string]map[string]string // device ID by label, by the pref of its menu ("" for Default)
	level  *widget.ProgressBar
	test   *widget.Button
	status *widget.Label
	// stop ends the running microphone test; done closes when its
	// goroutine has returned. Both nil when no test runs.
	stop func()
	done chan struct{}
}

func (a *App) audioSection(s *settingsWindow) fyne.CanvasObject {
	au := &audioSettings{a: a}
	s.audio = au
	au.input = widget.NewSelect(nil, func(label string) { au.choose(prefAudioInput, label) })
	au.output = widget.NewSelect(nil, func(label string) { au.choose(prefAudioOutput, label) })
	au.setDevices(nil)
	au.level = widget.NewProgressBar()
	au.level.TextFormatter = func() string { return "" }
	au.test = widget.NewButton(lang.L("Test microphone"), au.toggleTest)
	au.status = note("")
	return section(lang.L("Audio"),
		widget.NewForm(
			widget.NewFormItem(lang.L("Microphone"), au.input),
			widget.NewFormItem(lang.L("Speakers"), au.output),
		),
		note(lang.L("Calls use these devices from the next call on.")),
		widget.NewSeparator(),
		container.NewBorder(nil, nil, au.test, nil, au.level),
		au.status,
	)
}

// defaultLabel names the system's default device in the menus.
func defaultLabel() string { return lang.L("Default") }

// setDevices fills the menus with devs and selects the saved choices; a
// saved device no longer present shows as Default (calls would fall back
// to it too).
func (au *audioSettings) setDevices(devs []api.AudioDevice) {
	// A microphone and a speaker may share a name (and an ID): each menu
	// has its own labels.
	au.ids = map[string]map[string]string{
		prefAudioInput:  {defaultLabel(): ""},
		prefAudioOutput: {defaultLabel(): ""},
	}
	ins, outs := []string{defaultLabel()}, []string{defaultLabel()}
	for _, d := range devs {
		pref, list := prefAudioOutput, &outs
		if d.Input {
			pref, list = prefAudioInput, &ins
		}
		label := d.Name
		if label == "" {
			label = d.ID
		}
		if _, taken := au.ids[pref][label]; taken {
			label += " (" + d.ID + ")" // two devices of one name stay apart
		}
		au.ids[pref][label] = d.ID
		*list = append(*list, label)
	}
	for _, m := range []struct {
		sel    *widget.Select
		labels []string
		pref   string
	}{{au.input, ins, prefAudioInput}, {au.output, outs, prefAudioOutput}} {
		m.sel.Options = m.labels
		saved, shown := au.a.prefs.String(m.pref), defaultLabel()
		for _, l := range m.labels {
			if au.ids[m.pref][l] == saved && saved != "" {
				shown = l
			}
		}
		// Selected directly: showing the saved choice must not save it.
		m.sel.Selected = shown
		m.sel.Refresh()
	}
}

// choose remembers the device a menu chose.
func (au *audioSettings) choose(pref, label string) {
	if id, ok := au.ids[pref][label]; ok {
		au.a.prefs.SetString(pref, id)
	}
}

// loadAudioDevices asks the node for its sound devices when Options opens.
func (a *App) loadAudioDevices(au *audioSettings) {
	var devs []api.AudioDevice
	a.command(func(ctx context.Context) error {
		var err error
		devs, err = a.api.AudioDevices(ctx)
		return err
	}, func(err error) {
		if err != nil {
			au.status.SetText(lang.L("The sound devices could not be listed: {{.Error}}", map[string]any{"Error": errorText(err)}))
			return
		}
		au.setDevices(devs)
	})
}

// toggleTest starts or stops the microphone test.
func (au *audioSettings) toggleTest() {
	if au.stop != nil {
		au.stopTest()
		return
	}
	au.startTest()
}

// startTest asks the node for the chosen microphone's level, again and
// again, and shows each on the bar until stopTest.
func (au *audioSettings) startTest() {
	a := au.a
	ctx, cancel := context.WithCancel(a.ctx)
	done := make(chan struct{})
	au.stop, au.done = cancel, done
	au.test.SetText(lang.L("Stop test"))
	au.status.SetText(lang.L("Speak into your microphone: the bar shows how loud it hears you."))
	input := a.prefs.String(prefAudioInput)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(done)
		for ctx.Err() == nil {
			next := time.Now().Add(micWindow)
			lvl, err := a.api.MicrophoneLevel(ctx, input, micWindow)
			if ctx.Err() != nil {
				return
			}
			a.uiDo(func() {
				if au.done != done {
					return // stopped meanwhile: a newer test, or none, owns the bar
				}
				if err != nil {
					au.stopTest()
					au.status.SetText(lang.L("The microphone could not be tested: {{.Error}}", map[string]any{"Error": errorText(err)}))
					return
				}
				au.level.SetValue(lvl)
			})
			if err != nil {
				return
			}
			// At most one level per window, however fast the node answers.
			select {
			case <-ctx.Done():
			case <-time.After(time.Until(next)):
			}
		}
	}()
}

// stopTest ends the microphone test, if one runs: the tab was left, the
// window closed or the button pressed. Its goroutine returns as soon as
// its MicrophoneLevel call does, which the context cuts short.
func (au *audioSettings) stopTest() {
	if au.stop == nil {
		return
	}
	au.stop()
	au.stop, au.done = nil, nil
	au.test.SetText(lang.L("Test microphone"))
	au.status.SetText("")
	au.level.SetValue(0)
}
