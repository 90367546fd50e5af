package node

// The session's side of contacts.Host (beyond host.go).

// HideFrom shows username that we are offline.
func (s *session) HideFrom(username string) { s.presence.SendOffline(username) }

// Invisible reports whether we appear offline.
func (s *session) Invisible() bool { return s.presence.Invisible() }

// Republish publishes our record again (the allow list changed).
func (s *session) Republish() { s.discovery.Republish() }

// HasMailboxes reports whether supernodes (which keep mailboxes and
// backups) are known.
func (s *session) HasMailboxes() bool { return s.discovery.HasMailboxes() }
