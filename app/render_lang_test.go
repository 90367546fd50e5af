package app

import (
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// TestRenderSpanish (issue 23): the main windows in Spanish, pixel for
// pixel, so a translation that no longer fits, or a string that slipped
// back into English, shows in a failed image (testdata/failed/; `make
// golden` takes an intended change).
func TestRenderSpanish(t *testing.T) {
	useLanguageForTest(t, "es")
	useFakeClock(t, renderDay.Add(10*time.Minute))

	t.Run("signin", func(t *testing.T) {
		a, _ := renderApp(t, themeLight)
		w := a.signIn.win
		w.Resize(signInSize)
		a.signIn.username.SetText("alice")
		test.AssertRendersToImage(t, "signin-es.png", w.Canvas())
	})
	t.Run("contacts and conversation", func(t *testing.T) {
		a, _ := signedInRender(t, themeLight)
		w := a.main.win
		w.Resize(fyne.NewSize(360, 620))
		w.Content().Refresh()
		test.AssertRendersToImage(t, "contacts-es.png", w.Canvas())

		c := a.chat("bob")
		c.setHistory([]api.Message{
			{ID: "m1", From: "bob", To: "alice", Text: "¡Hola Alice! :) ¿Seguimos con lo del sábado?", Time: renderDay, State: api.StateReceived},
			{ID: "m2", From: "alice", To: "bob", Text: "¡Claro! Llevo la pelota (y)", Time: renderDay.Add(time.Minute), State: api.StateDelivered},
		})
		c.show(false)
		c.win.Resize(fyne.NewSize(600, 480))
		for _, tr := range []api.Transfer{
			{ID: "t1", Peer: "bob", Name: "playa.png", Size: 19 << 10, State: api.TransferDone, Bytes: 19 << 10,
				Path: "/home/alice/Descargas/playa.png"},
			{ID: "t3", Peer: "bob", Name: "voleibol.mov", Size: 381 << 20, State: api.TransferActive, Bytes: 120 << 20,
				Rate: 12 << 20, ETA: 22 * time.Second},
		} {
			a.apply(api.Event{Transfer: &tr})
		}
		c.win.Content().Refresh()
		test.AssertRendersToImage(t, "conversation-es.png", c.win.Canvas())

		a.showOptions()
		s := a.settings
		s.win.Resize(fyne.NewSize(640, 520))
		for i, name := range []string{"profile", "general"} {
			s.tabs.SelectIndex(i)
			test.AssertRendersToImage(t, "options-"+name+"-es.png", s.win.Canvas())
		}
	})
}
