package rpc

import (
	"context"
	"strings"

	"eserver/node/api"
)

// Notification params. Field order is the order on the wire.
type (
	messageNote struct {
		ID   string `json:"id"`
		From string `json:"from"`
		To   string `json:"to"`
		Text string `json:"text"`
		Time string `json:"time"`
	}
	deliveredNote struct {
		ID string `json:"id"`
		To string `json:"to"`
	}
	contactRequestNote struct {
		From    string `json:"from"`
		Message string `json:"message"`
	}
	contactUpdateNote struct {
		Username string `json:"username"`
		Relation string `json:"relation"`
	}
	identityNote struct {
		Username string `json:"username"`
		Time     string `json:"time"`
	}
	roleNote struct {
		Role   string `json:"role"`
		Reason string `json:"reason"`
		Time   string `json:"time"`
		Error  string `json:"error,omitempty"`
	}
	presenceNote struct {
		Username string `json:"username"`
		Status   string `json:"status"`
		Nick     string `json:"nick"`
		Subnick  string `json:"subnick"`
		Media    string `json:"media"`
		Via      string `json:"via"` // how the contact is reached: direct, hole-punched, relayed, mailbox, offline
		// Avatar names the display picture (hex SHA-256, "" = default);
		// AvatarPath is the local file once fetched.
		Avatar     string `json:"avatar,omitempty"`
		AvatarPath string `json:"avatarPath,omitempty"`
		Group      string `json:"group,omitempty"`
		Alias      string `json:"alias,omitempty"`
	}
)

// relationRemoved is the relation contactUpdate reports for a removed contact.
const relationRemoved = "removed"

// watchState is what the notifier remembers of the event stream to report
// only changes: the signed-in user and the contact list.
type watchState struct {
	self     string // last signed-in username, "" if never
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
		}
	}
}

// event handles one event; an event may carry several changes.
func (c *conn) event(ctx context.Context, st *watchState, ev api.Event) {
	if s := ev.Snapshot; s != nil { // the initial state: remembered, not reported
		st.self = ""
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
	}
	if ct := ev.Contact; ct != nil {
		prev, known := st.contacts[ct.Username]
		st.contacts[ct.Username] = *ct
		if !known || prev.Relation != ct.Relation {
			c.notify("contactUpdate", contactUpdateNote{Username: ct.Username, Relation: string(ct.Relation)})
		}
		if ct.KeyChanged != nil && (prev.KeyChanged == nil || !ct.KeyChanged.Equal(*prev.KeyChanged)) && known {
			c.notify("identityChanged", identityNote{Username: ct.Username, Time: formatTime(*ct.KeyChanged)})
		}
		prev.Username = ct.Username // an unknown contact had no presence
		if p := presenceOf(*ct); p != presenceOf(prev) {
			c.notify("presence", p)
		}
	}
	if u := ev.ContactRemoved; u != "" {
		delete(st.contacts, u)
		c.notify("contactUpdate", contactUpdateNote{Username: u, Relation: relationRemoved})
	}
	if r := ev.ContactRequest; r != nil {
		c.notify("contactRequest", contactRequestNote{From: r.From, Message: r.Message})
	}
	if m := ev.Message; m != nil && (st.self == "" || !strings.EqualFold(m.From, st.self)) {
		c.notify("message", messageNote{ID: m.ID, From: m.From, To: m.To, Text: m.Text, Time: formatTime(m.Time)})
	}
	if d := ev.Delivered; d != nil {
		c.notify("delivered", deliveredNote{ID: d.ID, To: d.To})
	}
	if r := ev.Role; r != nil {
		c.notify("role", roleNote{Role: string(r.Role), Reason: r.Reason, Time: formatTime(r.Time), Error: r.Error})
	}
	if t := ev.Transfer; t != nil {
		if t.State == api.TransferIncoming && !t.Outgoing {
			c.notify("fileOffer", struct {
				TransferID string `json:"transferId"`
				From       string `json:"from"`
				Name       string `json:"name"`
				Size       int64  `json:"size"`
				Type       string `json:"type,omitempty"`
				Thumbnail  []byte `json:"thumbnail,omitempty"` // base64 JPEG preview of an image
			}{t.ID, t.Peer, t.Name, t.Size, t.Type, t.Thumbnail})
		} else {
			c.notify("transfer", noteOf(*t))
		}
	}
	if cv := ev.Conversation; cv != nil {
		c.notify("conversation", cv)
	}
	if ty := ev.Typing; ty != nil {
		c.notify("typing", struct {
			From string `json:"from"`
		}{ty.From})
	}
	if nu := ev.Nudge; nu != nil {
		c.notify("nudge", struct {
			From string `json:"from"`
			Time string `json:"time"`
		}{nu.From, formatTime(nu.Time)})
	}
	if in := ev.StreamIncoming; in != nil {
		c.incoming(ctx, c.api, in)
	}
	if ev.SignedOut {
		c.notify("signedOut", struct {
			Reason string `json:"reason,omitempty"`
		}{ev.SignedOutReason})
	}
}

// presenceOf is the presence notification for ct; two presences compare
// equal when they are shown the same (an empty status shows as offline).
func presenceOf(ct api.Contact) presenceNote {
	return presenceNote{
		Username: ct.Username, Status: statusOf(ct.Status), Nick: ct.Nick, Subnick: ct.Subnick, Media: ct.Media,
		Via: string(ct.Via), Avatar: ct.Avatar, AvatarPath: ct.AvatarPath, Group: ct.Group, Alias: ct.Alias,
	}
}
