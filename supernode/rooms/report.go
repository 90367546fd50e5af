package rooms

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/room"
	"eserver/node/wire"
)

// report is a member's report waiting at this home for the room's owner
// or an operator.
type report struct {
	ev frame
	at time.Time
}

// moderates reports whether user may act on reports in st's room: its
// owner and operators.
func moderates(st *room.State, user string) bool {
	r := st.Role(user)
	return r == room.RoleOwner || r == room.RoleOp
}

// report passes a member's report to the owner and operators joined here,
// or keeps it (bounded, in memory) until one of them joins. Only a member
// joined here may report (no one reports from outside the room), the
// reporter is the request's verified ticket's user, and a report spends one
// of the reporter's join attempts, so reports cannot flood a moderator.
func (s *Service) report(ctx context.Context, remote peer.ID, from room.Sender, q *wire.RoomReport) *wire.RoomResponse {
	switch {
	case wire.ValidRoomName(q.GetRoom()) != nil, wire.ValidUsername(q.GetUsername()) != nil,
		len(q.GetMessageId()) > wire.MaxRoomMessageID, len(q.GetReason()) > wire.MaxRoomReportReason,
		!utf8.ValidString(q.GetReason()), q.GetUsername() == from.Username:
		return failed(wire.CodeBadRequest)
	}
	if !s.allowJoin(from.Username) {
		return failed(wire.CodeRateLimited)
	}
	st, err := s.store.State(ctx, q.Room)
	if err != nil {
		return failed(code(err))
	}
	if !st.Exists() || st.Owner == "" {
		// A regional room has no one to report to.
		return failed(wire.CodeNotAllowed)
	}
	s.mu.Lock()
	m := s.rooms[q.Room]
	s.mu.Unlock()
	if m == nil {
		return failed(wire.CodeNotAllowed)
	}
	ev := encodeEvent(&wire.RoomEvent{Kind: &wire.RoomEvent_Report{Report: &wire.RoomReported{From: from.Username, Report: &wire.RoomReport{
		Room: q.Room, Username: q.Username, MessageId: q.MessageId, Reason: q.Reason}}}})
	m.mu.Lock()
	defer m.mu.Unlock()
	if sb := m.byPeer[remote]; sb == nil || sb.ended() || sb.user != from.Username {
		return failed(wire.CodeNotAllowed)
	}
	delivered := false
	for _, sb := range m.byPeer {
		if moderates(st, sb.user) && !sb.ended() {
			if sb.queue(ev) {
				delivered = true
			}
		}
	}
	if !delivered {
		m.keepReport(report{ev: ev, at: s.cfg.Now()})
	}
	return &wire.RoomResponse{}
}

// keepReport queues r for the next moderator to join, dropping the oldest
// past wire.RoomReportsKept; m.mu is held.
func (m *members) keepReport(r report) {
	if len(m.reports) >= wire.RoomReportsKept {
		m.reports = append(m.reports[:0], m.reports[1:]...)
	}
	m.reports = append(m.reports, r)
}

// deliverReports queues the reports waiting in m, not older than
// wire.RoomReportsFor, to a moderator's new stream sb, and forgets them;
// m.mu is held.
func (m *members) deliverReports(sb *sub, now time.Time) {
	for _, r := range m.reports {
		if now.Sub(r.at) > wire.RoomReportsFor {
			continue
		}
		select {
		case sb.events <- r.ev:
		default:
		}
	}
	m.reports = nil
}
