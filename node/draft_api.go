package node

// DRAFT — this file exists only on the draft-api branch so that the node
// package builds while the methods below are written; it never lands on main.

import (
	"context"
	"errors"

	"eserver/node/api"
)

var errDraft = errors.New("draft: not written yet")

func (n *Node) SearchHistory(ctx context.Context, q api.HistoryQuery) ([]api.HistoryHit, error) {
	return nil, errDraft
}
