package rpc

import (
	"context"
	"encoding/json"

	"eserver/node/api"
)

// setAvatar sets our display picture from an image file ("" = the default
// picture), optionally cropped.
func setAvatar(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Path *string   `json:"path"`
		Crop *api.Crop `json:"crop"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if p.Path == nil {
		return nil, badParams("path is required (\"\" for the default picture)")
	}
	var crop api.Crop
	if p.Crop != nil {
		if p.Crop.Size <= 0 || p.Crop.X < 0 || p.Crop.Y < 0 {
			return nil, badParams("crop needs x, y ≥ 0 and size > 0")
		}
		crop = *p.Crop
	}
	if err := backend.SetAvatar(ctx, *p.Path, crop); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// setContactGroup files a contact under a group of the user's list ("" =
// none).
func setContactGroup(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	return arrange(ctx, raw, "group", backend.SetContactGroup)
}

// renameContact names a contact in the user's list ("" = its own nick).
func renameContact(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	return arrange(ctx, raw, "alias", backend.RenameContact)
}

func arrange(ctx context.Context, raw json.RawMessage, field string, call func(context.Context, string, string) error) (any, error) {
	var p map[string]json.RawMessage
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	var username string
	var value *string
	for k, r := range p {
		var v string
		if err := json.Unmarshal(r, &v); err != nil {
			return nil, badParams("%s must be a string", k)
		}
		switch k {
		case "username":
			username = v
		case field:
			value = &v
		default:
			return nil, badParams("unknown field %q", k)
		}
	}
	if err := required("username", username); err != nil {
		return nil, err
	}
	if value == nil {
		return nil, badParams("%s is required (\"\" for none)", field)
	}
	if err := call(ctx, username, *value); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// invite brings a contact into a conversation: with is a contact (a new
// multi-party conversation starts) or a conversation's ID.
func invite(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		With     string `json:"with"`
		Username string `json:"username"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("with", p.With, "username", p.Username); err != nil {
		return nil, err
	}
	id, err := backend.Invite(ctx, p.With, p.Username)
	if err != nil {
		return nil, err
	}
	return struct {
		ConversationID string `json:"conversationId"`
		// Deprecated: the same as conversationId; written for one release.
		OldID string `json:"conversation"`
	}{id, id}, nil
}

func listConversations(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	if err := decodeParams(raw, &struct{}{}); err != nil {
		return nil, err
	}
	cs, err := backend.Conversations(ctx)
	if err != nil {
		return nil, err
	}
	return struct {
		Conversations []conversation `json:"conversations"`
	}{mapSlice(cs, func(c api.Conversation) conversation { return conversation{Conversation: c, OldID: c.ID} })}, nil
}
