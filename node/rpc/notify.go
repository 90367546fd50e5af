package rpc

import (
	"context"
	"strings"

	"eserver/node/api"
)

// notice is a kind of notification the daemon sends. Every kind is made by
// newNotice, so notices lists them all: the test that holds docs/API.md to
// the code compares that list with the documented one.
type notice struct{ method string }

// notices is every notification kind, in declaration order.
var notices []notice

func newNotice(method string) notice {
	n := notice{method}
	notices = append(notices, n)
	return n
}

// Notification kinds, with the api.Event field each reports. Event.Snapshot
// has none: the state at start-up is read with account and listContacts.
var (
	noteAccount         = newNotice("account")         // Event.Account
	noteMessage         = newNotice("message")         // Event.Message
	noteDelivered       = newNotice("delivered")       // Event.Delivered
	noteContactRequest  = newNotice("contactRequest")  // Event.ContactRequest
	noteContactUpdate   = newNotice("contactUpdate")   // Event.Contact (relation), Event.ContactRemoved
	notePresence        = newNotice("presence")        // Event.Contact (presence, reach, picture, list)
	noteIdentityChanged = newNotice("identityChanged") // Event.Contact (KeyChanged)
	noteFileOffer       = newNotice("fileOffer")       // Event.Transfer (an incoming offer)
	noteTransfer        = newNotice("transfer")        // Event.Transfer (every other change)
	noteTyping          = newNotice("typing")          // Event.Typing
	noteConversation    = newNotice("conversation")    // Event.Conversation
	noteNudge           = newNotice("nudge")           // Event.Nudge
	noteRead            = newNotice("read")            // Event.Read
	noteRole            = newNotice("role")            // Event.Role
	noteSecurity        = newNotice("security")        // Event.Security
	noteOfflineMessages = newNotice("offlineMessages") // Event.OfflineMessages
	noteIncomingStream  = newNotice("incomingStream")  // Event.StreamIncoming
	noteStreamData      = newNotice("streamData")      // the bytes of an incoming stream (streams.go)
	noteStreamEnd       = newNotice("streamEnd")       // its end (streams.go)
	noteSignedOut       = newNotice("signedOut")       // Event.SignedOut, Event.SignedOutReason and Code
	noteRoomMessage     = newNotice("roomMessage")     // Event.RoomMessage
	noteRoomEvent       = newNotice("roomEvent")       // Event.RoomEvent
	noteHistory         = newNotice("history")         // Event.History
	noteCallIncoming    = newNotice("callIncoming")    // Event.CallIncoming
	noteCallState       = newNotice("callState")       // Event.CallState
	noteCallStats       = newNotice("callStats")       // Event.CallStats
)

// relationRemoved is the relation contactUpdate reports for a removed contact.
const relationRemoved = "removed"

// watchState is what the notifier remembers of the event stream to report
// only changes: the signed-in account and the contact list.
type watchState struct {
	self     string       // last signed-in username, "" if never
	account  *api.Account // as last reported; nil when signed out
	contacts map[string]api.Contact
}

// watch turns events into notifications until ctx ends or events closes.
func (c *conn) watch(ctx context.Context, events <-chan api.Event) {
	st := &watchState{contacts: map[string]api.Contact{}}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				if ctx.Err() == nil {
					c.log.Warn("rpc: node event stream ended")
				}
				return
			}
			c.event(ctx, st, ev)
			if ev.SignedOut && c.signedOut != nil {
				select {
				case c.signedOut <- struct{}{}:
				default:
				}
			}
		}
	}
}

// event handles one event; an event may carry several changes.
func (c *conn) event(ctx context.Context, st *watchState, ev api.Event) {
	if s := ev.Snapshot; s != nil { // the initial state: remembered, not reported
		st.self, st.account = "", s.Account
		if s.Account != nil {
			st.self = s.Account.Username
		}
		st.contacts = make(map[string]api.Contact, len(s.Contacts))
		for _, ct := range s.Contacts {
			st.contacts[ct.Username] = ct
		}
	}
	if a := ev.Account; a != nil {
		if st.self != "" && !strings.EqualFold(st.self, a.Username) {
			st.contacts = map[string]api.Contact{} // another account's list
		}
		st.self = a.Username
		if st.account == nil || *st.account != *a {
			acct := *a
			st.account = &acct
			c.notify(noteAccount, acct)
		}
	}
	if ct := ev.Contact; ct != nil {
		prev, known := st.contacts[ct.Username]
		st.contacts[ct.Username] = *ct
		now := contactOf(*ct)
		if !known || prev.Relation != ct.Relation {
			c.notify(noteContactUpdate, now)
		}
		if ct.KeyChanged != nil && (prev.KeyChanged == nil || !ct.KeyChanged.Equal(*prev.KeyChanged)) && known {
			c.notify(noteIdentityChanged, identityChange{Contact: now, Time: now.KeyChanged})
		}
		// Presence is reported for accepted contacts only (the node shows
		// every other one offline; a change in how it is reached is not
		// news to a bot), and a contact that becomes accepted gets one at
		// once, after its contactUpdate: so a bot that follows presence
		// learns of every contact it can talk to, in a fixed order.
		accepted := ct.Relation == api.RelationAccepted
		becameAccepted := accepted && (!known || prev.Relation != api.RelationAccepted)
		prev.Username = ct.Username // an unknown contact had no presence
		if accepted && (becameAccepted || shown(*ct) != shown(prev)) {
			c.notify(notePresence, now)
		}
	}
	if u := ev.ContactRemoved; u != "" {
		delete(st.contacts, u)
		c.notify(noteContactUpdate, contactRemoved{Username: u, Relation: relationRemoved})
	}
	if r := ev.ContactRequest; r != nil {
		c.notify(noteContactRequest, r)
	}
	if m := ev.Message; m != nil && (st.self == "" || !strings.EqualFold(m.From, st.self)) {
		c.notify(noteMessage, messageOf(*m))
	}
	if d := ev.Delivered; d != nil {
		c.notify(noteDelivered, delivery{Delivery: *d, OldID: d.ID})
	}
	if r := ev.Role; r != nil {
		role := *r
		role.Time = utc(role.Time)
		c.notify(noteRole, role)
	}
	if se := ev.Security; se != nil {
		sec := *se
		sec.Time = utc(sec.Time)
		c.notify(noteSecurity, sec)
	}
	if om := ev.OfflineMessages; om != nil {
		c.notify(noteOfflineMessages, om)
	}
	if t := ev.Transfer; t != nil {
		if t.State == api.TransferIncoming && !t.Outgoing {
			offer := transferOf(*t)
			offer.From = t.Peer
			c.notify(noteFileOffer, offer)
		} else {
			c.notify(noteTransfer, transferOf(*t))
		}
	}
	if cv := ev.Conversation; cv != nil {
		c.notify(noteConversation, conversationEvent{ConversationEvent: *cv, OldID: cv.ID})
	}
	if ty := ev.Typing; ty != nil {
		c.notify(noteTyping, ty)
	}
	if nu := ev.Nudge; nu != nil {
		nudge := *nu
		nudge.Time = utc(nudge.Time)
		c.notify(noteNudge, nudge)
	}
	if r := ev.Read; r != nil {
		c.notify(noteRead, r)
	}
	if rm := ev.RoomMessage; rm != nil {
		m := *rm
		m.Time = utc(m.Time)
		c.notify(noteRoomMessage, m)
	}
	if re := ev.RoomEvent; re != nil {
		c.notify(noteRoomEvent, re)
	}
	if h := ev.History; h != nil {
		c.notify(noteHistory, h)
	}
	if ci := ev.CallIncoming; ci != nil {
		c.notify(noteCallIncoming, ci)
	}
	if cs := ev.CallState; cs != nil {
		c.notify(noteCallState, callEventOf(*cs))
	}
	if st := ev.CallStats; st != nil {
		c.notify(noteCallStats, st)
	}
	if in := ev.StreamIncoming; in != nil {
		c.incoming(ctx, c.api, in)
	}
	if ev.SignedOut {
		st.account = nil
		c.notify(noteSignedOut, signedOut{Reason: ev.SignedOutReason, Code: ev.SignedOutCode})
	}
}

// shown is what the presence notification reports of ct: two contacts
// with the same shown value need no presence notification between them
// (an empty status shows as offline; the relation, the key change and the
// request's note have notifications of their own, or none).
func shown(ct api.Contact) api.Contact {
	ct = contactOf(ct)
	ct.Relation, ct.KeyChanged, ct.RequestMessage, ct.Verified = "", nil, "", false
	ct.Unread = 0 // news of its own: the read notification, or a message
	return ct
}
