package node

import (
	"context"
	"errors"
	"fmt"

	"eserver/node/api"
	"eserver/node/store"
)

// SearchHistory implements API: full-text search over every conversation of
// the signed-in account, newest first (see store.Search for the matching
// rules). A query with no words, a negative Limit or Before, or a With that
// is neither a username nor a conversation is a bad request; Limit is capped, not refused, so a
// client asking for "a lot" gets the most we serve.
func (n *Node) SearchHistory(ctx context.Context, q api.HistoryQuery) ([]api.HistoryHit, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	switch {
	case api.IsConversation(q.With):
		if _, err := parseConvID(q.With); err != nil {
			return nil, err
		}
	case q.With != "":
		if s, err = n.sessionFor(q.With); err != nil {
			return nil, err
		}
	}
	if q.Limit < 0 || q.Before < 0 {
		return nil, fmt.Errorf("%w: negative limit or before", api.ErrBadRequest)
	}
	hits, err := s.store.Search(ctx, store.SearchQuery{Text: q.Text, Peer: q.With, Limit: q.Limit, Before: q.Before})
	if errors.Is(err, store.ErrEmptyQuery) || errors.Is(err, store.ErrQueryTooLong) {
		return nil, fmt.Errorf("%w: %w", api.ErrBadRequest, err)
	}
	if err != nil {
		return nil, fmt.Errorf("searching history: %w", err)
	}
	out := make([]api.HistoryHit, 0, len(hits))
	for _, h := range hits {
		out = append(out, api.HistoryHit{Message: s.toMessage(h.Message), Seq: h.Seq, Snippet: h.Snippet, Marks: h.Marks})
	}
	return out, nil
}
