package store

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/text/unicode/norm"
)

// History at rest.
//
// Message text is sealed with XChaCha20-Poly1305 under a key derived from
// the storage key (which lives only in the password-sealed identity), bound
// to the message's row: its peer, ID, direction, author and time. A body
// moved to another row, or a row whose direction or author was edited, does
// not open.
//
// Search still works through a blind index: the text is split into words in
// Go (tokenize), and FTS5 is given, for each distinct word, only a keyed
// token — HMAC-SHA256 under a second derived key, cut to indexTokenLen
// base32 characters — plus keyed tokens of its first 1..prefixMax
// characters and one of the message's conversation, as one sorted bag per
// message (detail=none: no positions, so no word order). A query is mapped to the same tokens; the candidates
// FTS5 returns are opened and checked against the query in Go (matchText:
// phrases, prefixes longer than prefixMax, token collisions), which also
// places the highlights. The file therefore holds no word of any message,
// but equal words give equal tokens: who wrote to whom and when, the sizes
// of messages and which messages share words stay visible (SECURITY.md).

// ErrWrongStorageKey is Unlock's answer for a key other than the one the
// store's history and secrets were sealed with.
var ErrWrongStorageKey = errors.New("store: wrong storage key")

// errNotSealed is a row of history written in the clear after the sealing
// migration finished: no program of ours writes one.
var errNotSealed = errors.New("message stored unsealed")

const (
	// HKDF labels of the keys derived from the storage key.
	labelText  = "eserver-store-history-text-v1"
	labelIndex = "eserver-store-history-index-v1"
	labelCheck = "eserver-store-key-check-v1"
	// Associated-data label of a sealed message body.
	labelBody = "eserver-store-message-v1"

	// prefixMax is the longest prefix (in characters) indexed for each
	// word. A last query word up to this long is one exact index lookup;
	// a longer one looks up its first prefixMax characters and the text
	// check in Go drops the words that only share those. More would cost
	// index size and show more of each word's shape; fewer, more opening
	// of candidates that do not match.
	prefixMax = 4

	// indexTokenLen is how many base32 characters (5 bits each) of the MAC
	// an index token keeps: 50 bits, so that two words of a history share
	// a token very rarely — and when they do, the check in Go drops the
	// false candidate.
	indexTokenLen = 10
)

// sealBatch is how many plaintext rows Unlock seals per transaction when it
// migrates an old history: each batch is durable on its own, so a sealing
// killed half way resumes where it stopped. A variable for tests.
var sealBatch = 1000

// tokenAlphabet is lower-case base32, which FTS5's ascii tokenizer keeps as
// one token.
const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// historyKeys are the keys Unlock derives from the storage key.
type historyKeys struct {
	text  cipher.AEAD // seals message bodies
	index []byte      // HMAC key of index tokens
	check []byte      // MAC stored in storage_key_check
	words tokenCache  // index tokens of recent words
}

func deriveHistoryKeys(storageKey []byte) (*historyKeys, error) {
	derive := func(label string) ([]byte, error) {
		return hkdf.Key(sha256.New, storageKey, nil, label, 32)
	}
	tk, err := derive(labelText)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(tk)
	if err != nil {
		return nil, err
	}
	ik, err := derive(labelIndex)
	if err != nil {
		return nil, err
	}
	ck, err := derive(labelCheck)
	if err != nil {
		return nil, err
	}
	return &historyKeys{text: aead, index: ik, check: ck}, nil
}

// history returns the keys for message text, or ErrLocked before Unlock.
func (s *Store) history() (*historyKeys, error) {
	s.secretMu.RLock()
	k := s.hist
	s.secretMu.RUnlock()
	if k == nil {
		return nil, ErrLocked
	}
	return k, nil
}

// bodyAD binds a sealed body to its row. Not seq: it is not known before
// the insert, and (peer, id) is already the row's unique key.
func bodyAD(m *Message) []byte {
	ad := []byte(labelBody)
	for _, f := range []string{m.Peer, m.ID, m.Sender} {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(f)))
		ad = append(ad, f...)
	}
	out := byte(0)
	if m.Outgoing {
		out = 1
	}
	ad = append(ad, out)
	ad = binary.BigEndian.AppendUint64(ad, uint64(nanos(m.Time)))
	if m.Kind != EntryMessage {
		// An entry's kind is bound too, so that a row cannot be turned
		// into another kind; a message's AD stays as it always was.
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(m.Kind)))
		ad = append(ad, m.Kind...)
	}
	return ad
}

func (k *historyKeys) seal(m *Message) ([]byte, error) {
	plain, err := plaintext(m)
	if err != nil {
		return nil, err
	}
	n := chacha20poly1305.NonceSizeX
	nonce := make([]byte, n, n+len(plain)+chacha20poly1305.Overhead)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.text.Seal(nonce, nonce, plain, bodyAD(m)), nil
}

// open sets m.Text from the sealed body of m's row.
func (k *historyKeys) open(m *Message, body []byte) error {
	n := chacha20poly1305.NonceSizeX
	if body == nil {
		return fmt.Errorf("message %q with %q: %w", m.ID, m.Peer, errNotSealed)
	}
	if len(body) < n+chacha20poly1305.Overhead {
		return fmt.Errorf("message %q with %q: sealed body too short", m.ID, m.Peer)
	}
	plain, err := k.text.Open(nil, body[:n], body[n:], bodyAD(m))
	if err != nil {
		return fmt.Errorf("message %q with %q: sealed body does not open: wrong storage key or damaged row", m.ID, m.Peer)
	}
	return setPlaintext(m, plain)
}

// keyCheck is the value storage_key_check holds for these keys.
func (k *historyKeys) keyCheck() []byte {
	mac := hmac.New(sha256.New, k.check)
	mac.Write([]byte(labelCheck))
	return mac.Sum(nil)
}

// tokenizer makes index tokens; it is not safe for concurrent use.
type tokenizer struct {
	mac   hash.Hash
	sum   []byte
	buf   []byte
	cache *tokenCache
	toks  []indexToken // terms' scratch

	// The last conversation's token: a batch is mostly one conversation.
	peer    string
	peerTok indexToken
	peerSet bool
}

func (k *historyKeys) tokenizer() *tokenizer {
	return &tokenizer{mac: hmac.New(sha256.New, k.index), cache: &k.words}
}

// indexToken is one keyed token: the first indexTokenLen*5 bits of its
// MAC, which FTS5 sees as indexTokenLen base32 characters (appendToken). An
// integer sorts and compares faster than the characters.
type indexToken uint64

// token is the keyed token of s as a kind of term — 'w' for a whole word,
// 'p' for a prefix. The kind is MACed with the text, so a word and an
// equal prefix of a longer word ("lunch" in "lunchtime") get unrelated
// tokens: a whole-word query does not match longer words.
func (t *tokenizer) token(kind byte, s string) indexToken {
	t.mac.Reset()
	t.buf = append(append(t.buf[:0], kind), s...)
	t.mac.Write(t.buf)
	t.sum = t.mac.Sum(t.sum[:0])
	return indexToken(binary.BigEndian.Uint64(t.sum) >> (64 - 5*indexTokenLen))
}

// conversationToken is the token every message with peer is indexed under
// besides its words, so that a search within one conversation is an AND of
// two doclists in FTS5, which skips from one match to the next, instead of
// a walk over every match of a common word in all conversations, most of
// them dropped by the peer filter. It reveals nothing the messages table
// does not show in the clear: which rows share a peer.
func (t *tokenizer) conversationToken(peer string) indexToken {
	if peer != t.peer || !t.peerSet {
		t.peer, t.peerTok, t.peerSet = peer, t.token('c', peer), true
	}
	return t.peerTok
}

// appendToken appends tok as FTS5 is given it: indexTokenLen characters of
// tokenEncoding's alphabet, as base32 of the MAC's bytes begins.
func appendToken(dst []byte, tok indexToken) []byte {
	for i := indexTokenLen - 1; i >= 0; i-- {
		dst = append(dst, tokenAlphabet[tok>>(5*i)&31])
	}
	return dst
}

// wordTokens appends to dst the tokens a word is indexed under: its own
// and those of its first 1..prefixMax characters.
func (t *tokenizer) wordTokens(dst []indexToken, w string) []indexToken {
	dst = append(dst, t.token('w', w))
	for i, r := 0, 0; i < len(w) && r < prefixMax; r++ {
		_, size := utf8.DecodeRuneInString(w[i:])
		i += size
		dst = append(dst, t.token('p', w[:i]))
	}
	return dst
}

// terms returns the index's value for a message with peer saying text:
// the keyed token of each distinct word and of each distinct prefix of
// 1..prefixMax characters of a word, and the token of its conversation
// (conversationToken), sorted by the tokens' bits, so that the index keeps
// no trace of word order.
//
// Words repeat (a history's vocabulary is small beside its length), so a
// word's tokens come from the cache when they can: the five HMACs per word
// were most of an insert's cost.
func (t *tokenizer) terms(peer, text string) string {
	words := tokenize(text)
	toks := append(t.toks[:0], t.conversationToken(peer))
	t.cache.mu.Lock()
	for _, w := range words {
		if c, ok := t.cache.m[w.norm]; ok {
			toks = append(toks, c...)
			continue
		}
		n := len(toks)
		toks = t.wordTokens(toks, w.norm)
		t.cache.put(w.norm, toks[n:])
	}
	t.cache.mu.Unlock()
	slices.Sort(toks)
	toks = slices.Compact(toks)
	t.toks = toks
	if len(toks) == 0 {
		return ""
	}
	b := make([]byte, 0, len(toks)*(indexTokenLen+1))
	for i := range toks {
		if i > 0 {
			b = append(b, ' ')
		}
		b = appendToken(b, toks[i])
	}
	return string(b)
}

// tokenCache maps recent words to their index tokens (wordTokens). It holds
// words of the history in memory, as the unlocked store does anyway, and
// goes with the keys when the store is locked.
type tokenCache struct {
	mu sync.Mutex
	m  map[string][]indexToken
}

// Bounds of the token cache: at most tokenCacheWords words (about 100 bytes
// each with their tokens, so a few MB), of at most tokenCacheWordBytes
// bytes; when full it starts again empty, which costs the HMACs of the
// words in use once more and needs no bookkeeping per hit.
const (
	tokenCacheWords     = 1 << 15
	tokenCacheWordBytes = 64
)

// put remembers w's tokens; the caller holds mu.
func (c *tokenCache) put(w string, toks []indexToken) {
	if len(w) > tokenCacheWordBytes {
		return
	}
	if c.m == nil || len(c.m) >= tokenCacheWords {
		c.m = make(map[string][]indexToken, 1024)
	}
	c.m[strings.Clone(w)] = slices.Clone(toks)
}

// matchExpr is the FTS5 query for phrases (see parseQuery): every word's
// token, and for the last phrase's last word the token of its first (up to)
// prefixMax characters; with a peer, its conversation's token too. Tokens are base32, so nothing of the user's text
// reaches FTS5's syntax. The index keeps no positions, so the expression
// finds candidates that hold the words anywhere; matchText decides.
func (t *tokenizer) matchExpr(phrases [][]string, peer string) string {
	var b strings.Builder
	tok := func(kind byte, s string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		b.Write(appendToken(nil, t.token(kind, s)))
		b.WriteByte('"')
	}
	if peer != "" {
		tok('c', peer)
	}
	for i, ph := range phrases {
		for j, w := range ph {
			if i == len(phrases)-1 && j == len(ph)-1 {
				tok('p', runePrefix(w, prefixMax))
			} else {
				tok('w', w)
			}
		}
	}
	return b.String()
}

func runePrefix(s string, n int) string {
	i := 0
	for r := 0; r < n && i < len(s); r++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// word is one token of a text: its bytes [start, end) and its folded form.
type word struct {
	start, end int
	norm       string
}

// tokenize splits text into words: maximal runs of isTokenRune runes, each
// folded (see fold). Invalid UTF-8 decodes as U+FFFD, a separator.
func tokenize(text string) []word {
	var ws []word
	start := -1
	for i, r := range text {
		if isTokenRune(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			ws = append(ws, word{start, i, fold(text[start:i])})
			start = -1
		}
	}
	if start >= 0 {
		ws = append(ws, word{start, len(text), fold(text[start:])})
	}
	return ws
}

// fold is the form a word is indexed and searched under: lower case, and
// without the diacritics of Latin letters (café = cafe), as SQLite's
// unicode61 tokenizer folds them. Marks on other scripts stay (й is not и).
// Decomposing first also makes precomposed and combining spellings equal.
func fold(w string) string {
	ascii := true
	for i := 0; i < len(w); i++ {
		if w[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(w)
	}
	var b strings.Builder
	b.Grow(len(w))
	latin := false
	for _, r := range norm.NFD.String(w) {
		if unicode.Is(unicode.Mn, r) {
			if latin {
				continue
			}
		} else {
			latin = unicode.Is(unicode.Latin, r)
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return norm.NFC.String(b.String())
}

// matchText reports whether text holds every phrase — each phrase's words
// consecutive, the last phrase's last word as a prefix — and returns the
// byte spans of every occurrence of a phrase, in order, merged where they
// touch, as highlights.
func matchText(text string, phrases [][]string) ([][2]int, bool) {
	words := tokenize(text)
	var marks [][2]int
	for i, ph := range phrases {
		prefix := i == len(phrases)-1
		found := false
		for at := 0; at+len(ph) <= len(words); at++ {
			if !phraseAt(words[at:at+len(ph)], ph, prefix) {
				continue
			}
			found = true
			marks = append(marks, [2]int{words[at].start, words[at+len(ph)-1].end})
		}
		if !found {
			return nil, false
		}
	}
	slices.SortFunc(marks, func(a, b [2]int) int { return a[0] - b[0] })
	var out [][2]int
	for _, m := range marks {
		if n := len(out); n > 0 && m[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], m[1])
			continue
		}
		out = append(out, m)
	}
	return out, true
}

func phraseAt(words []word, ph []string, prefix bool) bool {
	for j, w := range ph {
		if prefix && j == len(ph)-1 {
			if !strings.HasPrefix(words[j].norm, w) {
				return false
			}
		} else if words[j].norm != w {
			return false
		}
	}
	return true
}

// messageWriter stores messages sealed, in one transaction, and indexes
// them in it unless they join the unindexed tail (indexer.go).
type messageWriter struct {
	tx     *sql.Tx
	k      *historyKeys
	tok    *tokenizer
	insert *sql.Stmt // ON CONFLICT DO NOTHING
	strict *sql.Stmt // a duplicate is an error
	index  *sql.Stmt
	later  *sql.Stmt // order.go: the author's later messages
	before *sql.Stmt // order.go: the place before them
	reach  *sql.Stmt // moves history_indexed.through to a new row

	// deferIndex leaves every row to the indexer (indexer.go): the
	// transaction stores rows only.
	deferIndex bool
}

func newMessageWriter(tx *sql.Tx, k *historyKeys) *messageWriter {
	return &messageWriter{tx: tx, k: k, tok: k.tokenizer()}
}

func (w *messageWriter) close() {
	for _, st := range []*sql.Stmt{w.insert, w.strict, w.index, w.later, w.before, w.reach} {
		if st != nil {
			st.Close()
		}
	}
}

func (w *messageWriter) prepare(st **sql.Stmt, query string) error {
	if *st != nil {
		return nil
	}
	p, err := w.tx.Prepare(query)
	if err != nil {
		return err
	}
	*st = p
	return nil
}

// add stores m (every field set) and indexes its text (see addPrepared
// for when that is left to the indexer). With dedup, a
// message already stored under (Peer, ID) is left alone and added is false;
// without, it is an error.
func (w *messageWriter) add(m *Message, dedup bool) (added bool, err error) {
	sm, err := w.k.prepareMessage(w.tok, m)
	if err != nil {
		return false, err
	}
	return w.addPrepared(&sm, dedup)
}

// preparedMessage is a message sealed and tokenized, ready to be written:
// the work of an insert that needs no database, which a batch does before
// its transaction, on every core.
type preparedMessage struct {
	m         *Message
	body      []byte // sealed text
	terms     string // its row of the index
	tokenized bool   // terms is set
}

func (k *historyKeys) prepareMessage(tok *tokenizer, m *Message) (preparedMessage, error) {
	sm, err := k.sealMessage(m)
	if err != nil {
		return preparedMessage{}, err
	}
	sm.terms, sm.tokenized = tok.terms(m.Peer, searchable(m)), true
	return sm, nil
}

// sealMessage prepares m without its terms, for a row the indexer indexes.
func (k *historyKeys) sealMessage(m *Message) (preparedMessage, error) {
	if !validEntry(m.Kind) {
		return preparedMessage{}, fmt.Errorf("unknown history entry kind %q", m.Kind)
	}
	body, err := k.seal(m)
	if err != nil {
		return preparedMessage{}, err
	}
	return preparedMessage{m: m, body: body}, nil
}

// prepareBatchMin is the smallest share of a batch worth a goroutine.
const prepareBatchMin = 64

// parallel calls fn on consecutive shares [lo, hi) of n items on up to
// GOMAXPROCS goroutines, which all end before it returns.
func parallel(n int, fn func(lo, hi int)) {
	workers := max(min(runtime.GOMAXPROCS(0), (n+prepareBatchMin-1)/prepareBatchMin), 1)
	per := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for i := range workers {
		lo, hi := i*per, min((i+1)*per, n)
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}

// prepareMessages prepares ms (every field set) on every core; without
// terms, it only seals them (for rows the indexer indexes).
func (k *historyKeys) prepareMessages(ms []Message, terms bool) ([]preparedMessage, error) {
	out := make([]preparedMessage, len(ms))
	errs := make([]error, len(ms))
	parallel(len(ms), func(lo, hi int) {
		tok := k.tokenizer()
		for j := lo; j < hi; j++ {
			var err error
			if terms {
				out[j], err = k.prepareMessage(tok, &ms[j])
			} else {
				out[j], err = k.sealMessage(&ms[j])
			}
			if err != nil {
				errs[j] = fmt.Errorf("message %q with %q: %w", ms[j].ID, ms[j].Peer, err)
				return
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// addPrepared stores a prepared message as add does.
func (w *messageWriter) addPrepared(sm *preparedMessage, dedup bool) (added bool, err error) {
	m := sm.m
	st := &w.strict
	q := `INSERT INTO messages (id, peer, outgoing, text, body, time, state, sender, kind, device, author_order)
		VALUES (?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?)`
	if dedup {
		st = &w.insert
		q += ` ON CONFLICT (peer, id) DO NOTHING`
	}
	if err := w.prepare(st, q); err != nil {
		return false, err
	}
	var device, order any // NULL unless the author said (order.go)
	if m.Order != 0 && m.Device != "" {
		device, order = m.Device, int64(m.Order)
	}
	res, err := (*st).Exec(m.ID, m.Peer, m.Outgoing, sm.body, nanos(m.Time), m.State, m.Sender, m.Kind, device, order)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return false, err
	}
	if err := w.place(seq, m); err != nil {
		return false, err
	}
	if w.deferIndex {
		return true, nil
	}
	// Indexed here only if the index reaches every row before this one:
	// else the row joins the unindexed tail (indexer.go), which must stay
	// one run of seqs after history_indexed.through.
	if err := w.prepare(&w.reach, `UPDATE history_indexed SET through = ?1 WHERE id = 1
		AND NOT EXISTS (SELECT 1 FROM messages WHERE seq > history_indexed.through AND seq < ?1)`); err != nil {
		return false, err
	}
	res, err = w.reach.Exec(seq)
	if err != nil {
		return false, fmt.Errorf("moving the index mark: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return true, err
	}
	if !sm.tokenized {
		sm.terms, sm.tokenized = w.tok.terms(m.Peer, searchable(m)), true
	}
	return true, w.indexTerms(seq, sm.terms)
}

func (w *messageWriter) indexText(seq int64, peer, text string) error {
	return w.indexTerms(seq, w.tok.terms(peer, text))
}

func (w *messageWriter) indexTerms(seq int64, terms string) error {
	if err := w.prepare(&w.index, `INSERT INTO messages_index (rowid, tokens) VALUES (?, ?)`); err != nil {
		return err
	}
	if _, err := w.index.Exec(seq, terms); err != nil {
		return fmt.Errorf("indexing message: %w", err)
	}
	return nil
}

// unlockHistory checks k against the store's key check (storing it on the
// first unlock) and, if the store still holds history from before it was
// sealed, seals and indexes it, seals the old transfers' names, paths and
// previews under secrets, and rewrites the file without the old plaintext.
func (s *Store) unlockHistory(secrets cipher.AEAD, k *historyKeys) error {
	err := s.db.Tx(func(tx *sql.Tx) error {
		var mac []byte
		err := tx.QueryRow(`SELECT mac FROM storage_key_check WHERE id = 1`).Scan(&mac)
		if errors.Is(err, sql.ErrNoRows) {
			_, err = tx.Exec(`INSERT INTO storage_key_check (id, mac) VALUES (1, ?)`, k.keyCheck())
			return err
		}
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare(mac, k.keyCheck()) != 1 {
			return ErrWrongStorageKey
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("checking the storage key: %w", err)
	}
	// Before sealing: the rows sealed below are indexed as they are, and
	// must not be indexed twice.
	if err := s.reindexHistory(k); err != nil {
		return fmt.Errorf("indexing history again: %w", err)
	}
	var pending int
	if err := s.db.QueryRow(`SELECT count(*) FROM history_unsealed`).Scan(&pending); err != nil {
		return fmt.Errorf("sealing history: %w", err)
	}
	if pending == 0 {
		return nil
	}
	for {
		n, err := s.sealBatch(k)
		if err != nil {
			return fmt.Errorf("sealing history: %w", err)
		}
		if n == 0 {
			break
		}
		if sealBatchHook != nil {
			sealBatchHook(n)
		}
	}
	if err := s.sealOldTransfers(secrets); err != nil {
		return fmt.Errorf("sealing file transfers: %w", err)
	}
	// Rows are sealed, but the pages that held their text (and the old
	// index) may still lie in the file's free space and in the WAL:
	// rewrite the file from the live rows only, and empty the WAL.
	if _, err := s.db.Exec(`VACUUM`); err != nil {
		return fmt.Errorf("sealing history: rewriting the file: %w", err)
	}
	if _, err := s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("sealing history: emptying the WAL: %w", err)
	}
	if _, err := s.db.Exec(`DELETE FROM history_unsealed`); err != nil {
		return fmt.Errorf("sealing history: %w", err)
	}
	return nil
}

// reindexBatch is how many rows reindexHistory indexes per transaction. A
// variable for tests.
var reindexBatch = 2000

// reindexBatchHook, when set (by tests), is called after each committed
// batch of reindexHistory with the number of rows it indexed.
var reindexBatchHook func(n int)

// reindexHistory indexes every sealed row again after migration 018 emptied
// the index, in batches, each committed with the seq it reached.
func (s *Store) reindexHistory(k *historyKeys) error {
	for {
		n, err := s.reindexRows(k)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if reindexBatchHook != nil {
			reindexBatchHook(n)
		}
	}
}

// reindexRows indexes up to reindexBatch sealed rows after the mark, moves
// the mark past them, and drops it when none are left. It returns how many
// rows it read.
//
// A row whose body does not open (damaged, or a key mix-up a test makes)
// is indexed under its conversation only: no search word can find it,
// which is what searching it would give anyway, and one bad row must not
// keep a user from signing in.
func (s *Store) reindexRows(k *historyKeys) (int, error) {
	n := 0
	err := s.db.Tx(func(tx *sql.Tx) error {
		var after int64
		err := tx.QueryRow(`SELECT after FROM history_reindex WHERE id = 1`).Scan(&after)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		// Rows after history_indexed.through are the indexer's (020).
		rows, err := tx.Query(`SELECT seq, `+messageColumns+` FROM messages
			WHERE seq > ? AND body IS NOT NULL AND seq <= (SELECT through FROM history_indexed WHERE id = 1)
			ORDER BY seq LIMIT ?`, after, reindexBatch)
		if err != nil {
			return err
		}
		type row struct {
			seq  int64
			peer string
			text string
		}
		var rs []row
		for rows.Next() {
			var r row
			var m Message
			var t int64
			var body []byte
			if err := rows.Scan(&r.seq, &m.ID, &m.Peer, &m.Outgoing, &body, &t, &m.State, &m.Sender, &m.Kind); err != nil {
				rows.Close()
				return err
			}
			m.Time = fromNanos(t)
			r.peer = m.Peer
			if k.open(&m, body) == nil {
				r.text = searchable(&m)
			}
			rs = append(rs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(rs) == 0 {
			_, err := tx.Exec(`DELETE FROM history_reindex`)
			return err
		}
		w := newMessageWriter(tx, k)
		defer w.close()
		for _, r := range rs {
			if err := w.indexText(r.seq, r.peer, r.text); err != nil {
				return err
			}
		}
		n = len(rs)
		_, err = tx.Exec(`UPDATE history_reindex SET after = ? WHERE id = 1`, rs[len(rs)-1].seq)
		return err
	})
	return n, err
}

// sealBatchHook, when set (by tests), is called after each committed batch
// of the sealing migration with the number of rows it sealed.
var sealBatchHook func(n int)

// sealBatch seals and indexes up to sealBatch rows still in the clear, in
// one transaction, and returns how many it did.
func (s *Store) sealBatch(k *historyKeys) (int, error) {
	n := 0
	err := s.db.Tx(func(tx *sql.Tx) error {
		rows, err := tx.Query(`SELECT seq, id, peer, outgoing, text, time, sender FROM messages
			WHERE body IS NULL ORDER BY seq LIMIT ?`, sealBatch)
		if err != nil {
			return err
		}
		type plain struct {
			seq int64
			m   Message
		}
		var ps []plain
		for rows.Next() {
			var p plain
			var t int64
			if err := rows.Scan(&p.seq, &p.m.ID, &p.m.Peer, &p.m.Outgoing, &p.m.Text, &t, &p.m.Sender); err != nil {
				rows.Close()
				return err
			}
			p.m.Time = fromNanos(t)
			ps = append(ps, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		w := newMessageWriter(tx, k)
		defer w.close()
		upd, err := tx.Prepare(`UPDATE messages SET body = ?, text = '' WHERE seq = ?`)
		if err != nil {
			return err
		}
		defer upd.Close()
		for _, p := range ps {
			body, err := k.seal(&p.m)
			if err != nil {
				return err
			}
			if _, err := upd.Exec(body, p.seq); err != nil {
				return err
			}
			if err := w.indexText(p.seq, p.m.Peer, p.m.Text); err != nil {
				return err
			}
		}
		n = len(ps)
		return nil
	})
	return n, err
}
