package app

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// TestLanguageOption (issue 23): Options lists the system's language first,
// then each language by its own name; choosing one keeps it in the
// profile for the next start, and a note says it applies then.
func TestLanguageOption(t *testing.T) {
	a, fake := signedIn(t)
	a.showOptions()
	s := a.settings
	want := []string{"System language", "English", "Español", "Português (Brasil)", "Deutsch"}
	if len(s.language.Options) != len(want) {
		t.Fatalf("languages offered %q, want %q", s.language.Options, want)
	}
	for i := range want {
		if s.language.Options[i] != want[i] {
			t.Fatalf("languages offered %q, want %q", s.language.Options, want)
		}
	}
	if s.language.Selected != "System language" || s.languageNote.Visible() {
		t.Fatalf("a new profile shows %q, note visible %v", s.language.Selected, s.languageNote.Visible())
	}

	s.language.SetSelected("Deutsch")
	if got := a.prefs.String(prefLanguage); got != "de" {
		t.Errorf("stored %q, want de", got)
	}
	if got := ReadStartSettings(a.prefs).Language; got != "de" {
		t.Errorf("the next start reads %q, want de", got)
	}
	if !s.languageNote.Visible() || s.languageNote.Text != "The language changes the next time EServer starts." {
		t.Errorf("note %q, visible %v", s.languageNote.Text, s.languageNote.Visible())
	}
	// Back to the language in use: nothing waits for the next start.
	s.language.SetSelected("System language")
	if got := ReadStartSettings(a.prefs).Language; got != "" || s.languageNote.Visible() {
		t.Errorf("back to the system's: stored %q, note visible %v", got, s.languageNote.Visible())
	}

	// The next start of this profile, in German: Options shows the choice
	// as in use, with no note.
	s.language.SetSelected("Deutsch")
	st := ReadStartSettings(a.prefs)
	b := New(a.fyne, fake, Options{Profile: "test", Started: st, Prefs: a.prefs})
	b.run = a.run
	b.apply(api.Event{Snapshot: &api.Snapshot{}})
	b.apply(api.Event{Account: a.account})
	b.showOptions()
	if bs := b.settings; bs.language.Selected != "Deutsch" || bs.languageNote.Visible() {
		t.Errorf("restarted in German: shows %q, note visible %v", bs.language.Selected, bs.languageNote.Visible())
	}
	// Another profile keeps its own choice.
	if other := ReadStartSettings(NewMemoryPrefs()); other.Language != "" {
		t.Errorf("another profile reads %q", other.Language)
	}
}

// TestOptionsInSpanish: the Options window built in another language shows
// its labels, the upload caps and the language chooser's first entry in
// that language.
func TestOptionsInSpanish(t *testing.T) {
	useLanguageForTest(t, "es")
	a, _ := signedIn(t)
	a.showOptions()
	s := a.settings
	if got := s.tabs.Items[1].Text; got != "General" {
		t.Errorf("tab %q", got)
	}
	if got := s.tabs.Items[2].Text; got != "Apariencia" {
		t.Errorf("tab %q, want Apariencia", got)
	}
	if got := s.language.Options[0]; got != "Idioma del sistema" {
		t.Errorf("first language %q, want Idioma del sistema", got)
	}
	if got := s.upload.Options[0]; got != "Sin límite" {
		t.Errorf("upload cap %q, want Sin límite", got)
	}
	if got := s.pictures.Options; len(got) != 3 || got[0] != "Grandes" {
		t.Errorf("picture choices %q", got)
	}
	test.Tap(s.sounds)
	if a.prefBool(prefSounds) {
		t.Error("unchecking Reproducir sonidos kept sounds on")
	}
}

// TestShippedLanguagesFit (issue 23): in each shipped language, the sign-in
// window, the contact list and every page of Options fit the sizes the app
// gives them — real translations, not only the pseudo-locale, since a tab
// column grows with its longest name ("Almacenamiento") beside the page.
func TestShippedLanguagesFit(t *testing.T) {
	for _, l := range Languages[1:] {
		t.Run(l.Code, func(t *testing.T) {
			useLanguageForTest(t, l.Code)
			a, _ := signedInRender(t, themeLight)
			fits(t, "the contact list", a.main.win, fyne.NewSize(360, 620))
			a.showOptions()
			for i, tab := range a.settings.tabs.Items {
				a.settings.tabs.SelectIndex(i)
				fits(t, "Options, "+tab.Text, a.settings.win, fyne.NewSize(640, 520))
			}
			s, _ := renderApp(t, themeLight)
			fits(t, "the sign-in window", s.signIn.win, signInSize)
			roomsFit(t)
			roomDialogsFit(t)
		})
	}
}
