package node

import (
	"context"

	"eserver/node/api"
)

// The role's API (node/role decides whether this node serves as a
// supernode).

// Role returns whether this node serves as a supernode now.
func (n *Node) Role() api.Role {
	s, err := n.current()
	if err != nil {
		return api.RoleNode
	}
	r, _, _ := s.role.Current()
	return r
}

// SetSupernode implements API.
func (n *Node) SetSupernode(ctx context.Context, set api.SupernodeSettings) error {
	s, err := n.current()
	if err != nil {
		return err
	}
	if err := s.role.Set(set); err != nil {
		return err
	}
	s.AccountChanged()
	return nil
}

// RoleChanged tells the front ends of a new role, and the account as it is
// now (role.Host).
func (s *session) RoleChanged(e *api.RoleEvent) {
	acct := s.account()
	s.n.emit(api.Event{Role: e, Account: &acct})
}
