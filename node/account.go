package node

import (
	"context"

	"eserver/node/api"
)

// Account implements API: the signed-in account as the GUI's Account events
// show it, so the daemon can read it too.
func (n *Node) Account(ctx context.Context) (api.Account, error) {
	s, err := n.current()
	if err != nil {
		return api.Account{}, err
	}
	return s.account(), nil
}
