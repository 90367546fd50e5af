package app

import (
	"context"
	"fmt"
	"testing"

	"fyne.io/fyne/v2/test"

	"eserver/node/api"
)

// BenchmarkStartContactList times the app's start to a laid-out contact
// list — New, Start, the node's first event (the snapshot: account and
// contact list) applied, and the main window laid out with its visible
// rows — with 1,000 contacts beside an empty list, against the fake node.
// Painting pixels is left out: the test driver paints in software, which
// says nothing about a GPU.
func BenchmarkStartContactList(b *testing.B) {
	fa := test.NewTempApp(b)
	for _, n := range []int{0, 1000} {
		b.Run(fmt.Sprintf("contacts=%d", n), func(b *testing.B) {
			snap := api.Snapshot{Account: &api.Account{Username: "alice", Presence: api.Presence{Status: api.StatusOnline}}}
			for i := range n {
				st := api.StatusOnline
				if i%3 == 0 {
					st = api.StatusOffline
				}
				snap.Contacts = append(snap.Contacts, api.Contact{Username: fmt.Sprintf("contact%04d", i), Relation: api.RelationAccepted,
					Presence: api.Presence{Status: st, Nick: fmt.Sprintf("Contact %d", i), Subnick: "a quick message"}})
			}
			for b.Loop() {
				fake := newFakeAPI()
				fake.Events = make(chan api.Event) // unbuffered: a send returns once the app took the event
				ctx, cancel := context.WithCancel(context.Background())
				a := New(fa, fake, Options{})
				a.Start(ctx)
				fake.Events <- api.Event{Snapshot: &snap}
				// The app takes the next event only after applying the
				// snapshot, so once this send returns the list is filled.
				fake.Events <- api.Event{}
				objs := test.LaidOutObjects(a.main.win.Content())

				b.StopTimer()
				rows := 0
				for _, o := range objs {
					if _, ok := o.(*contactRow); ok {
						rows++
					}
				}
				if a.main.list.Length() != n+2 || rows == 0 {
					b.Fatalf("list has %d rows (%d laid out), want %d", a.main.list.Length(), rows, n+2)
				}
				cancel()
				a.Wait()
				a.signIn.win.Close()
				a.main.win.Close()
				b.StartTimer()
			}
		})
	}
}
