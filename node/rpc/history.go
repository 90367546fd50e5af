package rpc

import (
	"context"
	"encoding/json"

	"eserver/node/api"
)

// Search limits: the default page when limit is absent, and the largest
// page (the node caps larger limits; the daemon refuses them, as history
// does, so a script learns the bound instead of silently getting less).
const (
	defaultSearchLimit = 50
	maxSearchLimit     = 500
)

func searchHistory(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Text   string `json:"text"`
		With   string `json:"with"`
		Limit  *int   `json:"limit"`
		Before *int64 `json:"before"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("text", p.Text); err != nil {
		return nil, err
	}
	q := api.HistoryQuery{Text: p.Text, With: p.With}
	var err error
	if q.Limit, err = limitParam(p.Limit, defaultSearchLimit, maxSearchLimit); err != nil {
		return nil, err
	}
	if p.Before != nil {
		q.Before = *p.Before
		if q.Before < 1 {
			return nil, badParams("before must be the seq of a hit (1 or more)")
		}
	}
	hits, err := backend.SearchHistory(ctx, q)
	if err != nil {
		return nil, err
	}
	return struct {
		Hits []hit `json:"hits"`
	}{mapSlice(hits, hitOf)}, nil
}
