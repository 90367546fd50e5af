package store

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// forceKey gives s the keys of key without Unlock's check, as a store that
// somehow got the wrong key would have them.
func forceKey(t *testing.T, s *Store, key []byte) {
	t.Helper()
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := deriveHistoryKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	s.setKeys(aead, hist)
}

// secretTexts are messages whose words must never reach the disk.
var secretTexts = []string{
	"Meet me under the Clocktower at midnight",
	"the Password is Swordfish, don't tell Marguerite",
	"Grüße aus Zürich, café crème",
	"привет товарищ",
	"我们明天吃午饭",
}

// plainWords are the words of texts an attacker reading the file could
// look for: as written, lower-cased and folded, of at least four bytes.
func plainWords(texts []string) []string {
	var out []string
	for _, text := range texts {
		for _, w := range tokenize(text) {
			for _, form := range []string{text[w.start:w.end], strings.ToLower(text[w.start:w.end]), w.norm} {
				if len(form) >= 4 && !slices.Contains(out, form) {
					out = append(out, form)
				}
			}
		}
	}
	return out
}

// assertNoPlaintext fails if the database file at path or its WAL and
// shared-memory files hold any of words (nor their UTF-16 forms, which
// SQLite does not use here, so ASCII and UTF-8 suffice).
//
// Words an empty store's file holds anyway (its schema names columns such
// as "text") are not evidence and are skipped.
func assertNoPlaintext(t *testing.T, path string, words []string) {
	t.Helper()
	_, emptyPath := openLocked(t)
	var empty []byte
	for _, f := range []string{emptyPath, emptyPath + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		empty = append(empty, b...)
	}
	words = slices.DeleteFunc(slices.Clone(words), func(w string) bool { return bytes.Contains(empty, []byte(w)) })
	read := 0
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		read += len(b)
		for _, w := range words {
			if bytes.Contains(b, []byte(w)) {
				t.Errorf("%s holds %q in the clear", filepath.Base(f), w)
			}
		}
	}
	if read == 0 {
		t.Fatal("no database file to read")
	}
}

// TestHistorySealedAtRest reads the database files as a thief of the disk
// would, after messages were stored by every path that stores them: no word
// of any message may be there, neither in the table nor in the index, while
// the store is open (WAL) nor after it is closed.
func TestHistorySealedAtRest(t *testing.T) {
	s, path := openTemp(t)
	if _, err := s.AddIncoming(Message{ID: "i1", Peer: "bob", Text: secretTexts[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddIncomingBatch([]Message{{ID: "i2", Peer: "bob", Text: secretTexts[1]},
		{ID: "i3", Peer: "#conv", Sender: "carol", Text: secretTexts[2]}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(&Message{ID: "o1", Peer: "bob", Text: secretTexts[3]},
		OutboxEntry{ID: "o1", Peer: "bob", Payload: []byte{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnqueueFanout(&Message{ID: "o2", Peer: "#conv", Text: secretTexts[4]}, "#conv",
		[]OutboxEntry{{ID: FanoutID("o2", "carol"), Peer: "carol", Payload: []byte{4}}}); err != nil {
		t.Fatal(err)
	}
	// Everything reads back and is found.
	for i, id := range []string{"i1", "i2", "i3", "o1", "o2"} {
		if m, err := s.Message(id); err != nil || m.Text != secretTexts[i] {
			t.Fatalf("message %s: %+v, %v", id, m, err)
		}
	}
	for _, q := range []string{"clocktower", "swordfish marg", "zurich", "товарищ", "我们"} {
		if hs, err := s.Search(context.Background(), SearchQuery{Text: q}); err != nil || len(hs) != 1 {
			t.Fatalf("search %q: %v, %v", q, hitIDs(hs), err)
		}
	}
	words := plainWords(secretTexts)
	assertNoPlaintext(t, path, words)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	assertNoPlaintext(t, path, words)
}

// TestHistoryLocked: before Unlock no message is written or read.
func TestHistoryLocked(t *testing.T) {
	s, _ := openLocked(t)
	m := Message{ID: "x", Peer: "bob", Text: "hi"}
	if _, err := s.AddIncoming(m); !errors.Is(err, ErrLocked) {
		t.Errorf("AddIncoming: %v", err)
	}
	if _, err := s.AddIncomingBatch([]Message{m}); !errors.Is(err, ErrLocked) {
		t.Errorf("AddIncomingBatch: %v", err)
	}
	if _, err := s.Enqueue(&m, OutboxEntry{ID: "x", Peer: "bob"}); !errors.Is(err, ErrLocked) {
		t.Errorf("Enqueue: %v", err)
	}
	if err := s.EnqueueFanout(&m, "#c", nil); !errors.Is(err, ErrLocked) {
		t.Errorf("EnqueueFanout: %v", err)
	}
	if _, err := s.History("bob", 0, ""); !errors.Is(err, ErrLocked) {
		t.Errorf("History: %v", err)
	}
	if _, err := s.Message("x"); !errors.Is(err, ErrLocked) {
		t.Errorf("Message: %v", err)
	}
	if _, err := s.Search(context.Background(), SearchQuery{Text: "hi"}); !errors.Is(err, ErrLocked) {
		t.Errorf("Search: %v", err)
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM messages`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d messages stored while locked (%v)", n, err)
	}
	// An outbox entry without a message needs no key: its payload is
	// sealed end to end already.
	if _, err := s.Enqueue(nil, OutboxEntry{ID: "y", Peer: "bob", Payload: []byte{1}}); err != nil {
		t.Errorf("Enqueue of an entry alone: %v", err)
	}
}

// TestHistoryTampering: a sealed body opens only in its own row, under its
// own key: moved, re-attributed or read under another key it is an error,
// never another text.
func TestHistoryTampering(t *testing.T) {
	for _, tc := range []struct {
		name string
		sql  string // run on a store holding b1, b2 (from bob) and o1 (to bob)
		id   string // then reading this message must fail
	}{
		{"body moved to another row", `UPDATE messages SET body = (SELECT body FROM messages WHERE id = 'b1') WHERE id = 'b2'`, "b2"},
		{"received turned sent", `UPDATE messages SET outgoing = 1 WHERE id = 'b1'`, "b1"},
		{"sent turned received", `UPDATE messages SET outgoing = 0 WHERE id = 'o1'`, "o1"},
		{"moved to another conversation", `UPDATE messages SET peer = 'carol' WHERE id = 'b1'`, "b1"},
		{"author changed", `UPDATE messages SET sender = 'mallory' WHERE id = 'b1'`, "b1"},
		{"redated", `UPDATE messages SET time = time + 1 WHERE id = 'b1'`, "b1"},
		{"truncated", `UPDATE messages SET body = substr(body, 1, 30) WHERE id = 'b1'`, "b1"},
		{"plaintext injected", `UPDATE messages SET body = NULL, text = 'forged' WHERE id = 'b1'`, "b1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openTemp(t)
			if _, err := s.AddIncomingBatch([]Message{{ID: "b1", Peer: "bob", Text: "first words"},
				{ID: "b2", Peer: "bob", Text: "second words"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Enqueue(&Message{ID: "o1", Peer: "bob", Text: "my words"}, OutboxEntry{ID: "o1", Peer: "bob"}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.db.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			if m, err := s.Message(tc.id); err == nil {
				t.Fatalf("tampered row read as %+v", m)
			}
			if _, err := s.History("bob", 0, ""); err == nil && tc.name != "moved to another conversation" {
				t.Fatal("history with a tampered row read")
			}
			if hs, err := s.Search(context.Background(), SearchQuery{Text: "words"}); err == nil {
				t.Fatalf("search over a tampered row: %v", hitIDs(hs))
			}
		})
	}

	// Another key: Unlock refuses it; forced in, nothing opens.
	s, path := openTemp(t)
	if _, err := s.AddIncoming(Message{ID: "b1", Peer: "bob", Text: "first words"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other := bytes.Repeat([]byte{9}, StorageKeySize)
	if err := s.Unlock(other); !errors.Is(err, ErrWrongStorageKey) {
		t.Fatalf("Unlock with another key: %v", err)
	}
	if _, err := s.History("bob", 0, ""); !errors.Is(err, ErrLocked) {
		t.Fatalf("a refused key unlocked the store: %v", err)
	}
	forceKey(t, s, other)
	if h, err := s.History("bob", 0, ""); err == nil {
		t.Fatalf("history opened under another key: %+v", h)
	}
	if hs, err := s.Search(context.Background(), SearchQuery{Text: "first"}); err != nil || len(hs) != 0 {
		t.Fatalf("search under another key: %v, %v (its tokens are other tokens)", hitIDs(hs), err)
	}
	if err := s.Unlock(testKey); err != nil {
		t.Fatal(err)
	}
	if h, err := s.History("bob", 0, ""); err != nil || len(h) != 1 || h[0].Text != "first words" {
		t.Fatalf("history under the right key: %+v, %v", h, err)
	}
}

func TestFoldAndTokenize(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string // text[start:end] = norm
	}{
		{"Hello, World!", []string{"Hello=hello", "World=world"}},
		{"don't e-mail", []string{"don=don", "t=t", "e=e", "mail=mail"}},
		{"Café CRÈME", []string{"Café=cafe", "CRÈME=creme"}},
		{"cafe\u0301", []string{"cafe\u0301=cafe"}},                // combining accent on a Latin letter
		{"Grüße", []string{"Grüße=gruße"}},                         // ß is a letter of its own
		{"йод Йод иод", []string{"йод=йод", "Йод=йод", "иод=иод"}}, // Cyrillic marks stay
		{"42x ٣", []string{"42x=42x", "٣=٣"}},
		{"我们明天", []string{"我们明天=我们明天"}},
		{"🎉party🎉", []string{"party=party"}},
		{"bad\xffutf8", []string{"bad=bad", "utf8=utf8"}},
		{"\uE000 x", []string{"\uE000=\uE000", "x=x"}},
		{"", nil},
		{" ,.;", nil},
	} {
		var got []string
		for _, w := range tokenize(tc.text) {
			got = append(got, tc.text[w.start:w.end]+"="+w.norm)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("tokenize(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

// TestSearchCandidatesChecked: the index answers by prefix tokens of at
// most prefixMax characters and by single words; what only shares those
// with the query is not a hit.
func TestSearchCandidatesChecked(t *testing.T) {
	s, _ := openTemp(t)
	if _, err := s.AddIncomingBatch([]Message{
		{ID: "1", Peer: "bob", Text: "lunchbox"},
		{ID: "2", Peer: "bob", Text: "lunchtime"},
		{ID: "3", Peer: "bob", Text: "send an e-mail"},
		{ID: "4", Peer: "bob", Text: "e is a letter, mail is post"},
		{ID: "5", Peer: "bob", Text: "mail e"},
		{ID: "6", Peer: "bob", Text: "Lunchtimes are long"},
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"lunchti", []string{"6", "2"}}, // longer than prefixMax: "lunc" candidates checked
		{"lunchtime", []string{"6", "2"}},
		{"lunchtimes", []string{"6"}},
		{"lunchb", []string{"1"}},
		{"e-mail", []string{"3"}}, // a phrase: e right before mail
		{"e-ma", []string{"3"}},
		{"mail e", []string{"5", "4", "3"}}, // two words, anywhere
		{"e mail", []string{"5", "4", "3"}},
		{"lunchbox time", nil},
	} {
		hs, err := s.Search(context.Background(), SearchQuery{Text: tc.q})
		if err != nil {
			t.Fatal(err)
		}
		if got := hitIDs(hs); !slices.Equal(got, tc.want) {
			t.Errorf("search %q: %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestMatchText(t *testing.T) {
	q := func(text string) [][]string {
		ph, err := parseQuery(text)
		if err != nil {
			t.Fatal(err)
		}
		return ph
	}
	for _, tc := range []struct {
		text, query string
		ok          bool
		marks       []string
	}{
		{"lunch at noon", "lunch noon", true, []string{"lunch", "noon"}},
		{"lunch at noon", "noon lunch", true, []string{"lunch", "noon"}},
		{"lunch at noon", "noon lu", true, []string{"lunch", "noon"}},
		{"lunch at noon", "lu noon", false, nil}, // only the last word is a prefix
		{"don't do that", "don't", true, []string{"don't"}},
		{"don't do that", "don do", true, []string{"don", "do"}},
		{"a b a b", "a", true, []string{"a", "a"}},
		{"ab ab", "ab-ab", true, []string{"ab ab"}}, // a phrase skips separators
		{"ab x ab", "ab-ab", false, nil},
		{"x-y-z", "x-y y-z", true, []string{"x-y-z"}}, // overlapping matches merge
		{"Café", "cafe", true, []string{"Café"}},
	} {
		marks, ok := matchText(tc.text, q(tc.query))
		var got []string
		for _, m := range marks {
			got = append(got, tc.text[m[0]:m[1]])
		}
		if ok != tc.ok || !slices.Equal(got, tc.marks) {
			t.Errorf("matchText(%q, %q) = %q, %v; want %q, %v", tc.text, tc.query, got, ok, tc.marks, tc.ok)
		}
	}
}

// oldHistory is the search fixture's messages, as an older program stored
// them: in the clear, indexed in the clear.
func oldHistory() []Message {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := []Message{
		{ID: "b1", Peer: "bob", Text: "Shall we have lunch tomorrow?", State: StateReceived},
		{ID: "b2", Peer: "bob", Text: "lunch at noon, the usual place", Outgoing: true, State: StateDelivered},
		{ID: "c1", Peer: "#conv", Sender: "carol", Text: "Lunchtime concert at the café", State: StateReceived},
		{ID: "c2", Peer: "carol", Text: "Grüße aus München! Das Café war schön.", State: StateReceived},
		{ID: "d1", Peer: "dave", Text: "привет, как дела? NEAR the AND gate OR not", State: StateReceived},
		{ID: "d3", Peer: "dave", Text: "don't forget the e-mail about text:foo", State: StateQueued, Outgoing: true},
		{ID: "b3", Peer: "bob", Text: "LUNCH was great, thanks", State: StateReceived},
	}
	for i := range ms {
		ms[i].Time = t0.Add(time.Duration(i) * time.Minute)
	}
	return ms
}

// oldTransfer is a received file as an older program stored it.
func oldTransfer() Transfer {
	return Transfer{ID: bytes.Repeat([]byte{5}, 16), Peer: "bob", Name: "Wedding-Speech-Draft.pdf", Size: 1000, ChunkSize: 65536,
		Key: bytes.Repeat([]byte{6}, 32), Hash: bytes.Repeat([]byte{7}, 32), Path: "/home/alice/Downloads/Wedding-Speech-Draft.pdf",
		State: "done", Created: time.Unix(1700000000, 0), Kind: KindFile, Thumbnail: []byte("JFIF preview of Grandmother")}
}

// writeOldStore builds, at path, a database as the program before sealed
// history (schema 12) left it, holding ms.
func writeOldStore(t testing.TB, path string, ms []Message) {
	t.Helper()
	all, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	before := slices.IndexFunc(all, func(m migration) bool { return m.name == "013_sealed_history.sql" })
	if before < 0 {
		t.Fatal("no migration 013_sealed_history.sql")
	}
	db, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := setup(db, all, before); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if _, err := tx.Exec(`INSERT INTO messages (id, peer, outgoing, text, time, state, sender) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			m.ID, m.Peer, m.Outgoing, m.Text, nanos(m.Time), m.State, m.Sender); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// A transfer as it was stored then: its key sealed, the rest in the clear.
	aead, err := chacha20poly1305.NewX(testKey)
	if err != nil {
		t.Fatal(err)
	}
	ot := oldTransfer()
	key, err := sealWith(aead, ot.Key, "transfers", string(ot.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO transfers (id, peer, outgoing, name, size, chunk_size, file_key, hash, path, state, created, kind, thumbnail)
		VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, ot.ID, ot.Peer, ot.Name, ot.Size, ot.ChunkSize, key, ot.Hash, ot.Path,
		ot.State, nanos(ot.Created), ot.Kind, ot.Thumbnail); err != nil {
		t.Fatal(err)
	}
	first := tokenize(ms[0].Text)[0]
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?`, `"`+first.norm+`"`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("the old index does not hold the old rows: %d, %v", n, err)
	}
}

// TestSealOldHistory: history an older program stored in the clear is
// sealed and indexed at the first Unlock, reads and searches as it did, and
// leaves no trace of its text in the files.
func TestSealOldHistory(t *testing.T) {
	defer func(n int) { sealBatch = n }(sealBatch)
	sealBatch = 3 // several batches

	path := filepath.Join(t.TempDir(), "old.db")
	old := oldHistory()
	writeOldStore(t, path, old)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.History("bob", 0, ""); !errors.Is(err, ErrLocked) {
		t.Fatalf("history before Unlock: %v", err)
	}
	if err := s.Unlock(testKey); err != nil {
		t.Fatal(err)
	}
	assertSealedHistory(t, s, path, old)

	// A second Unlock (the next sign-in) has nothing left to do.
	if err := s.Unlock(testKey); err != nil {
		t.Fatal(err)
	}
	var pending int
	if err := s.db.QueryRow(`SELECT count(*) FROM history_unsealed`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("sealing still pending: %d, %v", pending, err)
	}
}

// assertSealedHistory checks that s, opened from path, holds old sealed:
// every row reads back the same, searches find what a store written sealed
// from the start finds, and no word is left in the clear in the files.
func assertSealedHistory(t *testing.T, s *Store, path string, old []Message) {
	t.Helper()
	var clear int
	if err := s.db.QueryRow(`SELECT count(*) FROM messages WHERE body IS NULL OR text != ''`).Scan(&clear); err != nil || clear != 0 {
		t.Fatalf("%d rows left in the clear (%v)", clear, err)
	}
	for _, want := range old {
		got, err := s.Message(want.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertMessage(t, got, want)
	}
	fresh, _ := openTemp(t)
	if _, err := fresh.AddIncomingBatch(old); err != nil {
		t.Fatal(err)
	}
	for _, q := range []SearchQuery{{Text: "lunch"}, {Text: "lun"}, {Text: "lunch noon"}, {Text: "cafe"},
		{Text: "grüße münchen"}, {Text: "ПРИВЕТ"}, {Text: "don't forget"}, {Text: "text:foo"}, {Text: "lunch", Peer: "bob"},
		{Text: "lunch", Limit: 2}, {Text: "concert", Peer: "#conv"}} {
		want, err := fresh.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || len(got) != len(want) {
			t.Fatalf("search %+v: %v, want %v", q, hitIDs(got), hitIDs(want))
		}
		for i := range got {
			if got[i].ID != want[i].ID || got[i].Snippet != want[i].Snippet || !slices.Equal(got[i].Marks, want[i].Marks) {
				t.Errorf("search %+v hit %d: %+v, want %+v", q, i, got[i], want[i])
			}
		}
	}
	ot := oldTransfer()
	if got, err := s.Transfer(ot.ID); err != nil || got.Name != ot.Name || got.Path != ot.Path ||
		!bytes.Equal(got.Thumbnail, ot.Thumbnail) || !bytes.Equal(got.Key, ot.Key) {
		t.Fatalf("old transfer after Unlock: %+v, %v", got, err)
	}
	texts := []string{ot.Name, ot.Path, string(ot.Thumbnail)}
	for _, m := range old {
		texts = append(texts, m.Text)
	}
	assertNoPlaintext(t, path, plainWords(texts))
}

// TestSealOldHistoryResumes kills (SIGKILL) a child process half way
// through sealing an old history, then checks that what it sealed is
// sealed, and that the next Unlock seals the rest.
func TestSealOldHistoryResumes(t *testing.T) {
	if path := os.Getenv("ESERVER_STORE_SEAL_CHILD"); path != "" {
		sealChild(path)
		return
	}
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "old.db")
	old := oldHistory()
	writeOldStore(t, path, old)

	cmd := exec.Command(os.Args[0], "-test.run=^TestSealOldHistoryResumes$")
	cmd.Env = append(os.Environ(), "ESERVER_STORE_SEAL_CHILD="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "SEALED ") && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("child ended before sealing a batch")
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v", cmd.ProcessState)
	}

	// Half done: the first batch is sealed for good, the rest not yet.
	db, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	var sealed, clear, pending int
	err = db.QueryRow(`SELECT (SELECT count(*) FROM messages WHERE body IS NOT NULL AND text = ''),
		(SELECT count(*) FROM messages WHERE body IS NULL), (SELECT count(*) FROM history_unsealed)`).Scan(&sealed, &clear, &pending)
	db.Close()
	if err != nil || sealed != 2 || clear != len(old)-2 || pending != 1 {
		t.Fatalf("after the kill: %d sealed, %d clear, pending %d (%v); want 2, %d, 1", sealed, clear, pending, err, len(old)-2)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Unlock(testKey); err != nil {
		t.Fatal(err)
	}
	assertSealedHistory(t, s, path, old)
}

// sealChild unlocks the old store at path sealing two rows per batch, and
// waits to be killed after the first batch is committed.
func sealChild(path string) {
	s, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "seal child:", err)
		os.Exit(2)
	}
	sealBatch = 2
	sealBatchHook = func(n int) {
		fmt.Fprintf(os.Stdout, "SEALED %d\n", n)
		time.Sleep(2 * time.Minute) // never outlive a lost parent for long
		os.Exit(3)
	}
	if err := s.Unlock(testKey); err != nil {
		fmt.Fprintln(os.Stderr, "seal child:", err)
		os.Exit(2)
	}
	os.Exit(3)
}

// BenchmarkSealOldHistory measures the one-time sealing of a history an
// older release stored in the clear (100,000 messages of the search
// benchmark's kind): the first Unlock after the upgrade, VACUUM included.
func BenchmarkSealOldHistory(b *testing.B) {
	const n = 100_000
	var ms []Message
	gen := benchHistory(n)
	for batch := gen(n); len(batch) > 0; batch = gen(n) {
		ms = append(ms, batch...)
	}
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "old.db")
		writeOldStore(b, path, ms)
		b.StartTimer()
		s, err := Open(path)
		if err == nil {
			err = s.Unlock(testKey)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// TestFanoutSentKeptSealed: a conversation event passed on to a member is
// kept, sealed, to be sent again to that member alone (FanoutSent); a
// room's entries are not kept; once handed over, no word of it is left in
// the files.
func TestFanoutSentKeptSealed(t *testing.T) {
	s, path := openTemp(t)
	ev := []byte("event: " + secretTexts[2])
	carol := FanoutID("e1", "carol")
	if err := s.EnqueueFanout(nil, "#conv", []OutboxEntry{{ID: carol, Peer: "carol", Payload: ev}}); err != nil {
		t.Fatal(err)
	}
	room := FanoutID("r1", "carol")
	if err := s.EnqueueFanout(nil, "", []OutboxEntry{{ID: room, Peer: "carol", Payload: ev}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{carol, room} {
		if err := s.HandedOver(id); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.FanoutSent(carol, "carol"); err != nil || !bytes.Equal(got, ev) {
		t.Fatalf("carol's event: %q, %v", got, err)
	}
	for _, tc := range []struct{ id, peer string }{{carol, "dave"}, {room, "carol"}, {"nope", "carol"}} {
		if _, err := s.FanoutSent(tc.id, tc.peer); !errors.Is(err, ErrNotFound) {
			t.Fatalf("FanoutSent(%q, %q): %v, want ErrNotFound", tc.id, tc.peer, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	assertNoPlaintext(t, path, plainWords(secretTexts[2:3]))
}
