package soak

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Multi-party conversations: a few groups of three, each started by a node
// inviting two of its contacts, who need not be each other's contacts (the
// members pass one another's messages on). One message in groupShare goes
// to a random group, written by a random member; every other member must
// have it, once, in its author's order.

// groupShare: one message in groupShare goes to a group.
const groupShare = 5

// group is one multi-party conversation of the plan.
type group struct {
	id      string // "#" and 32 hex digits
	members []int  // node indexes, the inviter first
}

func isGroup(to string) bool { return strings.HasPrefix(to, "#") }

// othersIn is the usernames of group id's members other than author.
func (s *run) othersIn(id, author string) []string {
	for _, g := range s.groups {
		if g.id == id {
			return s.others(g.members, author)
		}
	}
	return nil
}

// others is the usernames of the nodes members, author left out.
func (s *run) others(members []int, author string) []string {
	var out []string
	for _, m := range members {
		if u := s.nodes[m].user; u != author {
			out = append(out, u)
		}
	}
	return out
}

// GroupPlan picks up to want groups of three from the contact pairs: an
// inviter and two of its contacts, each inviter once, drawn from rng.
func GroupPlan(nodes int, pairs [][2]int, want int, rng interface{ IntN(int) int }) [][3]int {
	partners := make([][]int, nodes)
	for _, p := range pairs {
		partners[p[0]] = append(partners[p[0]], p[1])
		partners[p[1]] = append(partners[p[1]], p[0])
	}
	var inviters []int
	for i, ps := range partners {
		if len(ps) >= 2 {
			inviters = append(inviters, i)
		}
	}
	var plan [][3]int
	for len(plan) < want && len(inviters) > 0 {
		k := rng.IntN(len(inviters))
		a := inviters[k]
		inviters = slices.Delete(inviters, k, k+1)
		ps := partners[a]
		i := rng.IntN(len(ps))
		j := rng.IntN(len(ps) - 1)
		if j >= i {
			j++
		}
		plan = append(plan, [3]int{a, ps[i], ps[j]})
	}
	return plan
}

// makeGroups starts the plan's groups and waits until every member has
// its conversation.
func (s *run) makeGroups(ctx context.Context) error {
	for _, g := range GroupPlan(len(s.nodes), s.pairs, max(1, len(s.nodes)/4), s.rngFor(6)) {
		a, b, c := s.nodes[g[0]], s.nodes[g[1]], s.nodes[g[2]]
		var r struct {
			ConversationID string `json:"conversationId"`
		}
		err := retry(ctx, time.Minute, func(ctx context.Context) error {
			return a.d.call(ctx, "invite", map[string]any{"with": b.user, "username": c.user}, &r)
		})
		if err != nil {
			return fmt.Errorf("%s inviting %s and %s: %w", a.user, b.user, c.user, err)
		}
		for _, m := range []*node{b, c} {
			err := retry(ctx, 2*time.Minute, func(ctx context.Context) error {
				var l struct {
					Conversations []struct {
						ConversationID string `json:"conversationId"`
					}
				}
				if err := m.d.call(ctx, "listConversations", map[string]any{}, &l); err != nil {
					return err
				}
				for _, cv := range l.Conversations {
					if cv.ConversationID == r.ConversationID {
						return nil
					}
				}
				return fmt.Errorf("%s is not yet in %s", m.user, r.ConversationID)
			})
			if err != nil {
				return err
			}
		}
		s.groups = append(s.groups, group{id: r.ConversationID, members: g[:]})
	}
	s.logf("%d multi-party conversations of three", len(s.groups))
	return nil
}
