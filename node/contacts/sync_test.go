package contacts

import (
	"slices"
	"testing"

	"eserver/node/api"
	"eserver/node/backup"
	"eserver/node/store"
)

// TestApplyRemoteState: what another device stored is applied here with
// what each move does to this device (a block hides us, an acceptance
// greets), and what this device changed since it last synced is newer
// than an older remote list, whichever code path changed it.
func TestApplyRemoteState(t *testing.T) {
	now := uint64(1_700_000_000_000) // the fake host's clock, in ms
	tests := []struct {
		name       string
		here       []store.Contact // before the first sync
		change     func(t *testing.T, l *Contacts)
		remote     []backup.Entry
		want       map[string]api.Relation // "" for no row
		wantHidden []string
		wantGreet  []string
		wantGroup  map[string]string
	}{
		{
			name:       "a block made on another device",
			here:       []store.Contact{{Username: "carol", Relation: "accepted"}},
			remote:     []backup.Entry{{Username: "carol", Relation: "blocked", PrevRelation: "accepted", RelationAt: now + 5}},
			want:       map[string]api.Relation{"carol": api.RelationBlocked},
			wantHidden: []string{"carol"},
		},
		{
			name:      "an unblock made on another device",
			here:      []store.Contact{{Username: "carol", Relation: "blocked"}},
			remote:    []backup.Entry{{Username: "carol", Relation: "accepted", RelationAt: now + 5}},
			want:      map[string]api.Relation{"carol": api.RelationAccepted},
			wantGreet: []string{"carol"},
		},
		{
			name:       "a removal made on another device",
			here:       []store.Contact{{Username: "dave", Relation: "accepted"}},
			remote:     []backup.Entry{{Username: "dave", Relation: backup.Removed, RelationAt: now + 5}},
			want:       map[string]api.Relation{"dave": ""},
			wantHidden: []string{"dave"},
		},
		{
			name: "an acceptance from the network here beats an older list",
			here: []store.Contact{{Username: "erin", Relation: "pending-out"}},
			change: func(t *testing.T, l *Contacts) {
				if err := l.Update("erin", func(c *store.Contact) error { c.Relation = "accepted"; return nil }); err != nil {
					t.Fatal(err)
				}
			},
			remote: []backup.Entry{{Username: "erin", Relation: "pending-out", RelationAt: now - 1000}},
			want:   map[string]api.Relation{"erin": api.RelationAccepted},
		},
		{
			name: "a removal here beats an older list that still has the contact",
			here: []store.Contact{{Username: "dave", Relation: "accepted"}},
			change: func(t *testing.T, l *Contacts) {
				if err := l.Remove("dave"); err != nil {
					t.Fatal(err)
				}
			},
			remote: []backup.Entry{{Username: "dave", Relation: "accepted", RelationAt: now - 1000, Group: "Work", GroupAt: now - 1000}},
			want:   map[string]api.Relation{"dave": ""},
		},
		{
			name:      "a contact added and filed on another device",
			remote:    []backup.Entry{{Username: "frank", Relation: "accepted", RelationAt: now, Group: "Work", GroupAt: now}},
			want:      map[string]api.Relation{"frank": api.RelationAccepted},
			wantGreet: []string{"frank"},
			wantGroup: map[string]string{"frank": "Work"},
		},
		{
			name:   "a request not answered here is not removed by another device's tombstone",
			here:   []store.Contact{{Username: "gina", Relation: "pending-in"}},
			remote: []backup.Entry{{Username: "gina", Relation: backup.Removed, RelationAt: now + 5}},
			want:   map[string]api.Relation{"gina": api.RelationPendingIn},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t)
			for _, c := range tc.here {
				if err := h.st.PutContact(c); err != nil {
					t.Fatal(err)
				}
			}
			l := New(h, nil)
			if _, _, err := l.mergeLocal(nil); err != nil { // the first sync: the list as it was
				t.Fatal(err)
			}
			if tc.change != nil {
				tc.change(t, l)
			}
			h.hidden, h.greeted = nil, nil
			merged, _, err := l.mergeLocal([]backup.State{{Entries: tc.remote}})
			if err != nil {
				t.Fatal(err)
			}
			for u, rel := range tc.want {
				if got := h.relation(t, u); got != rel {
					t.Errorf("%s: relation %q, want %q", u, got, rel)
				}
			}
			for u, g := range tc.wantGroup {
				if c, _ := h.st.Contact(u); c.Group != g {
					t.Errorf("%s: group %q, want %q", u, c.Group, g)
				}
			}
			if !slices.Equal(h.hidden, tc.wantHidden) || !slices.Equal(h.greeted, tc.wantGreet) {
				t.Errorf("hidden from %v, greeted %v; want %v, %v", h.hidden, h.greeted, tc.wantHidden, tc.wantGreet)
			}
			// A second pass with the same remote changes nothing more.
			again, _, err := l.mergeLocal([]backup.State{{Entries: tc.remote}})
			if err != nil || again.Sum() != merged.Sum() {
				t.Errorf("a second pass changed the state: %v", err)
			}
			for _, e := range merged.Entries {
				if e.Username == "gina" && e.Live() {
					t.Errorf("an unanswered request is in the synced state: %+v", e)
				}
			}
		})
	}
}
