package rpc

import (
	"time"

	"eserver/node/api"
)

// The daemon's JSON vocabulary is node/api's: every result and notification
// is an api type as its json tags write it, or a small envelope around one,
// so the daemon and the GUI name everything alike. The daemon adds only
// what a line-oriented client needs, each documented in docs/API.md:
//
//   - times in UTC, to the millisecond (utc), as the daemon always wrote them;
//   - an unknown contact status shown as "offline" (contactOf);
//   - keys renamed in this release still written under their old name beside
//     the new one, for one release, so scripts written against the old names
//     keep working (the fields marked Deprecated below, and the param aliases
//     given to command). docs/API.md lists them under "Renamed in this
//     release"; remove them in the release after.

// utc is t as the daemon writes times: UTC, whole milliseconds.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := utc(*t)
	return &u
}

// contactOf is c as the daemon shows it.
func contactOf(c api.Contact) api.Contact {
	if c.Status == "" {
		c.Status = api.StatusOffline
	}
	c.KeyChanged = utcPtr(c.KeyChanged)
	return c
}

func deviceOf(d api.Device) api.Device {
	d.FirstLogin, d.LastSeen, d.Revoked = utc(d.FirstLogin), utc(d.LastSeen), utcPtr(d.Revoked)
	return d
}

// message is api.Message on the wire.
type message struct {
	api.Message
	// Deprecated: the same as messageId; written for one release.
	OldID string `json:"id"`
}

func messageOf(m api.Message) message {
	m.Time = utc(m.Time)
	return message{Message: m, OldID: m.ID}
}

// hit is api.HistoryHit on the wire.
type hit struct {
	api.HistoryHit
	// Deprecated: the same as messageId; written for one release.
	OldID string `json:"id"`
}

func hitOf(h api.HistoryHit) hit {
	h.Time = utc(h.Time)
	if h.Marks == nil {
		h.Marks = [][2]int{} // always an array, so scripts need not test for null
	}
	return hit{HistoryHit: h, OldID: h.ID}
}

// delivery is api.Delivery on the wire.
type delivery struct {
	api.Delivery
	// Deprecated: the same as messageId; written for one release.
	OldID string `json:"id"`
}

// transfer is api.Transfer on the wire.
type transfer struct {
	api.Transfer
	// Deprecated: the same as size; written for one release.
	Total int64 `json:"total"`
	// Deprecated: the same as peer, in fileOffer only; written for one
	// release.
	From string `json:"from,omitempty"`
}

func transferOf(t api.Transfer) transfer { return transfer{Transfer: t, Total: t.Size} }

// conversation is api.Conversation on the wire.
type conversation struct {
	api.Conversation
	// Deprecated: the same as conversationId; written for one release.
	OldID string `json:"id"`
}

// conversationEvent is api.ConversationEvent on the wire.
type conversationEvent struct {
	api.ConversationEvent
	// Deprecated: the same as conversationId; written for one release.
	OldID string `json:"id"`
}

// identityChange is the contact whose device identity changed.
type identityChange struct {
	api.Contact
	// Deprecated: the same as keyChanged; written for one release.
	Time *time.Time `json:"time"`
}

// contactRemoved is what contactUpdate says of a removed contact: the
// Event's ContactRemoved, with the relation a script branches on.
type contactRemoved struct {
	Username string `json:"username"`
	Relation string `json:"relation"` // always relationRemoved
}

// signedOut is the Event's SignedOut with its SignedOutReason and code.
type signedOut struct {
	Reason string `json:"reason,omitempty"`
	Code   string `json:"code,omitempty"`
}
