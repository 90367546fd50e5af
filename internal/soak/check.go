package soak

// Conv is one direction of a conversation: what From sent To, from its
// account's first device (Dev 0) or its second (Dev 1). The two devices'
// sends are logged apart: each keeps its own order, the pair none.
type Conv struct {
	From, To string
	Dev      int
}

// Counts is what the checker found.
type Counts struct {
	Sent       int // messages whose send returned (an ID)
	Delivered  int // of those, in the recipient's history at least once
	Lost       int // of those, not in it
	Duplicated int // extra copies: a message there twice counts 1
	OutOfOrder int // messages that came after a later one of the same author
	Unexpected int // messages from the author the harness never saw sent
}

// Clean reports whether nothing was lost, duplicated or reordered.
func (c Counts) Clean() bool { return c.Lost == 0 && c.Duplicated == 0 && c.OutOfOrder == 0 }

// Add sums two counts.
func (c Counts) Add(o Counts) Counts {
	return Counts{c.Sent + o.Sent, c.Delivered + o.Delivered, c.Lost + o.Lost, c.Duplicated + o.Duplicated,
		c.OutOfOrder + o.OutOfOrder, c.Unexpected + o.Unexpected}
}

// Check compares the IDs sent in one direction of a conversation, in the
// order their sends returned, with the IDs of the author's messages in the
// recipient's history, oldest first.
//
// A message is out of order when its first copy comes after the first copy
// of a message sent later: so one message overtaken by k later ones counts
// 1, not k, and a history that is the sent order rotated counts the moved
// part once each.
func Check(sent, history []string) Counts {
	pos := make(map[string]int, len(sent))
	for i, id := range sent {
		pos[id] = i
	}
	seen := make(map[string]int, len(sent))
	c := Counts{Sent: len(sent)}
	latest := -1 // the latest sent position seen so far in history
	for _, id := range history {
		p, ok := pos[id]
		if !ok {
			c.Unexpected++
			continue
		}
		seen[id]++
		if seen[id] > 1 {
			c.Duplicated++
			continue
		}
		if p < latest {
			c.OutOfOrder++
		} else {
			latest = p
		}
	}
	c.Delivered = len(seen)
	c.Lost = len(sent) - len(seen)
	return c
}
