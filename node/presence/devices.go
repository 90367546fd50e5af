package presence

import (
	"slices"
	"time"

	"eserver/node/api"
	"eserver/node/wire"
)

// One contact, several devices: the merge of what each device of an
// account says into the one contact the front ends show (see the package
// doc for the rules and why).

// availability orders the statuses a contact's device may show, most
// available first; an account shows the first of its devices' statuses
// in this order. Statuses at the computer come before those away from it
// (busy and on the phone are there, only occupied), and of those away, the
// sooner back first. Offline — and invisible, which is never sent —
// rank below all of them.
var availability = []api.Status{
	api.StatusOnline,
	api.StatusBusy,
	api.StatusPhone,
	api.StatusBRB,
	api.StatusAway,
	api.StatusLunch,
}

// rank is s's place in availability: lower is more available.
func rank(s api.Status) int {
	if i := slices.Index(availability, s); i >= 0 {
		return i
	}
	return len(availability)
}

// The account's fields, which any of its devices may change.
const (
	fieldNick = iota
	fieldSubnick
	fieldMedia
	fieldAvatar // the hex SHA-256 of the picture, "" for the default one
	nFields
)

// fieldKeys name the fields in our settings (settingPrefix + key).
var fieldKeys = [nFields]string{"nick", "subnick", "media", "avatar"}

// change is one account field as a device last set it.
type change struct {
	value string
	at    int64  // when, Unix ms, as we took it (clamped to our clock)
	peer  string // the device's peer ID
}

// replaces reports whether c is a newer change than cur: the later one,
// ties broken by the larger peer ID so every contact picks the same. A
// device's word at the same time replaces its own: older peers send no
// times, and each of their presences is their latest.
func (c change) replaces(cur change) bool {
	if c.at != cur.at {
		return c.at > cur.at
	}
	return c.peer >= cur.peer
}

// device is a contact's device that told us it is signed in.
type device struct {
	status api.Status
	heard  time.Time // when we last heard from it, by our clock
	// sent and took are the change times the device last sent, per
	// field, and what we took them for: a time ahead of our clock is
	// taken as our now, once — the same time sent again is not a new
	// change, so a device whose clock runs ahead does not win again with
	// every presence it sends.
	sent, took [nFields]int64
}

// report is one presence from one device.
type report struct {
	peer    string
	status  api.Status // offline: the device signed out or appears offline
	fields  [nFields]string
	changed [nFields]int64 // wire.Presence's *_changed
	// hasFields is false for a presence that only says "offline" (a
	// goodbye), which changes none of the account's fields.
	hasFields bool
	now       time.Time
}

// account is what we know of one contact's devices.
type account struct {
	devices map[string]*device // signed-in devices, by peer ID
	fields  [nFields]change    // the newest change of each field from any device
	known   bool               // some device has told us the fields
}

// view is the merged presence an account shows.
type view struct {
	status api.Status // api.StatusOffline when no device is signed in
	fields [nFields]string
	known  bool // fields is what a device said, not zero values
}

// apply takes r into the account and reports whether r came from a device
// that was not signed in as far as we knew.
func (a *account) apply(r report) (arrived bool) {
	d := a.devices[r.peer]
	arrived = d == nil
	if r.hasFields {
		if d == nil {
			d = &device{}
		}
		for f := range nFields {
			at := r.changed[f]
			switch {
			case at == d.sent[f] && !arrived:
				at = d.took[f]
			case at > r.now.UnixMilli():
				at = r.now.UnixMilli()
			}
			d.sent[f], d.took[f] = r.changed[f], at
			if c := (change{value: r.fields[f], at: at, peer: r.peer}); !a.known || c.replaces(a.fields[f]) {
				a.fields[f] = c
			}
		}
		a.known = true
	}
	if r.status == api.StatusOffline {
		delete(a.devices, r.peer)
		return arrived
	}
	if d == nil {
		d = &device{}
	}
	d.status, d.heard = r.status, r.now
	if arrived {
		a.evict()
		if a.devices == nil {
			a.devices = map[string]*device{}
		}
		a.devices[r.peer] = d
	}
	return arrived
}

// evict makes room for one more device: an account lists at most
// wire.MaxAccountDevices, so more signed in at once means one of them
// went without a goodbye we noticed — the one heard from longest ago.
func (a *account) evict() {
	for len(a.devices) >= wire.MaxAccountDevices {
		var oldest string
		for id, d := range a.devices {
			if oldest == "" || d.heard.Before(a.devices[oldest].heard) {
				oldest = id
			}
		}
		delete(a.devices, oldest)
	}
}

// forget drops a device and reports whether it was signed in.
func (a *account) forget(peer string) bool {
	if _, ok := a.devices[peer]; !ok {
		return false
	}
	delete(a.devices, peer)
	return true
}

// view is the account's merged presence: the most available status of its
// devices, and each field's newest change.
func (a *account) view() view {
	v := view{status: api.StatusOffline, known: a.known}
	for _, d := range a.devices {
		if rank(d.status) < rank(v.status) {
			v.status = d.status
		}
	}
	for f := range nFields {
		v.fields[f] = a.fields[f].value
	}
	return v
}
