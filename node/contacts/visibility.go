package contacts

import (
	"crypto/rand"
	"eserver/node/payload"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// Visibility: our homes show our peer record (where we can be reached) only
// to holders of a token we gave them. Every contact we accepted or asked
// gets its own token; a block or a removal withdraws it at the next
// publish, and "appear offline" withdraws them all. Strangers and blocked
// users see what anyone sees of an offline user: our ticket, no addresses.

// grantVisibility makes sure c has a token from us and sends it. The caller
// stores c when changed reports true, and only then republishes
// (visibilityChanged): a publish that read the contact before the store
// would leave the token out.
func (l *Contacts) grantVisibility(c *store.Contact) (changed bool, err error) {
	if len(c.MyToken) == 0 {
		tok := make([]byte, client.VisibilityTokenSize)
		rand.Read(tok)
		c.MyToken, changed = tok, true
	}
	err = l.h.Enqueue(c.Username, &wire.Payload{Kind: &wire.Payload_Visibility{Visibility: &wire.Visibility{Token: c.MyToken}}}, nil)
	return changed, err
}

// Allowed returns the tokens that may see our record now.
func (l *Contacts) Allowed() [][]byte {
	if l.h.Invisible() {
		return nil // appearing offline: no one finds us
	}
	cs, err := l.h.Store().Contacts()
	if err != nil {
		l.h.Log().Warn("reading contacts for the allow list", "err", err)
		return nil
	}
	var out [][]byte
	for _, c := range cs {
		if r := api.Relation(c.Relation); (r == api.RelationAccepted || r == api.RelationPendingOut) && len(c.MyToken) > 0 {
			out = append(out, c.MyToken)
		}
	}
	return out
}

// Tokens returns, by username, the tokens contacts gave us.
func (l *Contacts) Tokens() map[string][]byte {
	cs, err := l.h.Store().Contacts()
	if err != nil {
		return nil
	}
	out := make(map[string][]byte, len(cs))
	for _, c := range cs {
		if len(c.TheirToken) > 0 && api.Relation(c.Relation) != api.RelationBlocked {
			out[c.Username] = c.TheirToken
		}
	}
	return out
}

// receiveVisibility stores the token a contact (or someone asking to be
// one) gave us.
func (l *Contacts) receiveVisibility(c store.Contact, v *wire.Visibility) error {
	if len(v.Token) != client.VisibilityTokenSize {
		return payload.ErrBadRequest
	}
	c.TheirToken = v.Token
	return l.h.Store().PutContact(c)
}

// UpgradeVisibility gives a token to every accepted contact that has none
// (contacts made before tokens existed).
func (l *Contacts) UpgradeVisibility() {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs, err := l.h.Store().Contacts()
	if err != nil {
		return
	}
	for _, c := range cs {
		if api.Relation(c.Relation) != api.RelationAccepted || len(c.MyToken) > 0 {
			continue
		}
		if _, err := l.grantVisibility(&c); err == nil {
			if err := l.h.Store().PutContact(c); err != nil {
				l.h.Log().Warn("storing visibility token", "contact", c.Username, "err", err)
			}
		}
	}
	l.h.Republish()
}

// visibilityKinds: a contact's visibility token arrives once it accepted
// us, or with its request.
func (l *Contacts) visibilityKinds() []payload.Kind {
	return []payload.Kind{{
		Of:     (*wire.Payload_Visibility)(nil),
		From:   payload.From{Relations: []api.Relation{api.RelationAccepted, api.RelationPendingIn}, Else: payload.ErrNotContact},
		Handle: func(in *payload.Inbound) error { return l.receiveVisibility(in.Contact, in.Payload.GetVisibility()) },
	}}
}
