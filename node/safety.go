package node

import (
	"context"

	"eserver/node/api"
)

// SafetyNumber implements API (safety numbers are node/keys').
func (n *Node) SafetyNumber(ctx context.Context, username string) (api.Safety, error) {
	s, err := n.current()
	if err != nil {
		return api.Safety{}, err
	}
	return s.keys.SafetyNumber(username)
}

// VerifyContact implements API.
func (n *Node) VerifyContact(ctx context.Context, v api.Verification) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	return s.keys.Verify(v)
}
