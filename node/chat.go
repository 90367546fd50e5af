package node

import (
	"context"

	"eserver/node/api"
	"eserver/node/conversation"
)

// The API of the chat capability (node/conversation): find the session,
// hand the call to the component.

// sessionWith is the session for a call about with: a conversation, whose
// ID must be well-formed, or a contact (sessionFor).
func (n *Node) sessionWith(with string) (*session, error) {
	if api.IsConversation(with) {
		if _, err := conversation.ParseID(with); err != nil {
			return nil, err
		}
		return n.current()
	}
	return n.sessionFor(with)
}

// Send implements API. It returns once the message is durably in the outbox:
// from then on a crash cannot lose it.
func (n *Node) Send(ctx context.Context, to, text string) (string, error) {
	if err := conversation.CheckText(text); err != nil {
		return "", err
	}
	s, err := n.sessionWith(to)
	if err != nil {
		return "", err
	}
	return s.conv.Send(to, text)
}

// History implements API.
func (n *Node) History(ctx context.Context, with string, limit int, before string) ([]api.Message, error) {
	s, err := n.sessionWith(with)
	if err != nil {
		return nil, err
	}
	return s.conv.History(with, limit, before)
}

// MarkRead implements API.
func (n *Node) MarkRead(ctx context.Context, conversation string) error {
	s, err := n.sessionWith(conversation)
	if err != nil {
		return err
	}
	return s.conv.MarkRead(conversation)
}

// SearchHistory implements API: full-text search over every conversation of
// the signed-in account, or the one q.With names (a contact or a
// multi-party conversation), newest first.
func (n *Node) SearchHistory(ctx context.Context, q api.HistoryQuery) ([]api.HistoryHit, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	if q.With != "" {
		if s, err = n.sessionWith(q.With); err != nil {
			return nil, err
		}
	}
	return s.conv.Search(ctx, q)
}

// Invite implements API.
func (n *Node) Invite(ctx context.Context, with, username string) (string, error) {
	s, err := n.acceptedSession(username)
	if err != nil {
		return "", err
	}
	if !api.IsConversation(with) && with != username {
		if _, err := n.acceptedSession(with); err != nil {
			return "", err
		}
	}
	return s.conv.Invite(with, username)
}

// LeaveConversation implements API.
func (n *Node) LeaveConversation(ctx context.Context, id string) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.conv.Leave(id)
}

// Conversations implements API.
func (n *Node) Conversations(ctx context.Context) ([]api.Conversation, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	return s.conv.List()
}
