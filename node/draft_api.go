package node

// DRAFT — this file exists only on the draft-api branch so that the node
// package builds while the methods below are written; it never lands on main.

import (
	"context"
	"errors"

	"eserver/node/api"
)

var errDraft = errors.New("draft: not written yet")

func (n *Node) SetContactGroup(ctx context.Context, username, group string) error { return errDraft }
func (n *Node) RenameContact(ctx context.Context, username, alias string) error   { return errDraft }
func (n *Node) SetAvatar(ctx context.Context, path string, crop api.Crop) error   { return errDraft }
func (n *Node) Typing(ctx context.Context, to string) error                       { return errDraft }
func (n *Node) Nudge(ctx context.Context, to string) error                        { return errDraft }
