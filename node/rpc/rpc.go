// Package rpc is the JSON-RPC 2.0 front end of the headless node daemon
// (eserver-node daemon), in the manner of signal-cli's jsonRpc mode: one JSON
// object (or batch) per line on the input and output streams, requests
// processed in the order read (except the calls that may wait without bound,
// see laneOf), and the node's event stream turned into notifications.
//
// It sees the node only through api.API, like the Fyne app. docs/API.md
// describes the protocol for bot and script authors.
package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"

	"eserver/node/api"
)

// MaxLineBytes is the longest input line accepted, without its line ending.
// Longer lines are discarded unread and answered with a parse error.
const MaxLineBytes = 1 << 20

// JSON-RPC error codes. CodeApplication carries an error from the node; its
// data.code is api.Code of that error.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternal       = -32603
	CodeApplication    = -32000
)

// Order of processing. A client's requests are processed one at a time, in
// the order they were read, each answered before the next starts: a bot can
// send register and login on consecutive lines, or a send after the
// acceptContact it depends on, without waiting for answers in between. The
// calls that may wait on a contact or on a large file without bound (the
// detached methods) start in turn too — every request read before them has
// been answered — but what follows does not wait for them, so one stalled
// stream or a file being hashed never holds the connection up.
//
// maxInFlight bounds the detached calls running or waiting at once; when
// reached, processing pauses until one finishes. queueDepth bounds the
// requests read ahead of processing; when reached, reading pauses.
const (
	maxInFlight = 64
	queueDepth  = 16
)

// lane says how a method is ordered with the requests around it.
type lane int

const (
	inTurn    lane = iota // answered before the next request starts
	detached              // starts in turn, holds nothing up
	perStream             // detached, but in turn with the calls on the same streamId
)

// laneOf is how each method is ordered; a method not listed is inTurn.
// Every inTurn method is bounded by the node's own timeouts (an auth server
// or a peer that does not answer fails it with unreachable); the detached
// ones are not: nudge waits up to 15 s for the contact, openStream for its
// answer, writeStream while the contact does not read (back-pressure),
// closeStream until what was written has gone, sendFile while it hashes
// the file; microphoneLevel listens for up to api.MaxLevelWindow, and a
// hangUp sent meanwhile must not wait for it.
var laneOf = map[string]lane{
	"nudge":           detached,
	"microphoneLevel": detached,
	"sendFile":        detached,
	"openStream":      detached,
	"writeStream":     perStream,
	"closeStream":     perStream,
}

// Server serves api.API over line-delimited JSON-RPC 2.0.
// One Server may serve several streams, each with its own Serve call.
type Server struct {
	api api.API
	log *slog.Logger
	// extra are methods beside the package's, for tests (the JSON-RPC
	// specification's examples call methods the daemon does not have).
	extra map[string]handler
	// signOut: Serve signs the node out at its end (SignOutAtEnd).
	signOut bool
}

// signOutWait bounds how long Serve, at its end, waits for the node to
// sign out and for its last notifications (SignOutAtEnd): the session's
// loops stop at once when asked, and a goodbye to contacts is bounded
// (delivery's goodbyeWait) well within it.
const signOutWait = 15 * time.Second

// SignOutAtEnd makes Serve, once it stops reading (EOF on its input, or
// its context ended) and has answered what it read, sign the node out —
// its session's loops stop — and go on writing notifications until the
// signedOut one, before it returns. The node's loops take messages until
// they stop (chat rooms' go on receiving); what they showed in that time
// reaches the client instead of being shown to no one. For the daemon,
// whose node is closed when Serve returns; it returns s.
func (s *Server) SignOutAtEnd() *Server {
	s.signOut = true
	return s
}

// NewServer returns a Server calling api. A nil logger discards logs.
func NewServer(backend api.API, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{api: backend, log: logger}
}

// Serve reads requests from in, one JSON object (or batch) per line, and
// writes responses and notifications (from api.Watch) to out, one per line.
// Requests are processed in the order read, each answered before the next
// starts, except the detached methods (see laneOf); every output line is
// written whole by a single Write call.
//
// Serve returns nil when in reaches EOF, after the requests already read have
// been answered (and, with SignOutAtEnd, the node signed out and its last
// notifications written). It returns ctx's error when ctx ends (in-flight requests see
// the cancellation and requests read but not started are dropped; if in has
// SetReadDeadline, as *os.File has, a pending read is interrupted, otherwise
// Serve returns once that read does), and an error when reading in or
// writing out fails. No goroutine started by Serve outlives it.
func (s *Server) Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c := &conn{log: s.log, out: out, cancel: cancel, api: s.api}

	// Notifications stop with ctx, or, when the node is signed out at
	// the end, once the signedOut notification went out (signOutAtEnd).
	watchParent := ctx
	if s.signOut {
		watchParent = context.WithoutCancel(ctx)
		c.signedOut = make(chan struct{}, 1)
	}
	watchCtx, stopWatch := context.WithCancel(watchParent)
	defer stopWatch()
	events := s.api.Watch(watchCtx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		c.watch(watchCtx, events)
	}()

	if d, ok := in.(interface{ SetReadDeadline(time.Time) error }); ok {
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			defer close(fired)
			_ = d.SetReadDeadline(time.Now())
		})
		defer func() {
			if !stop() {
				<-fired
				_ = d.SetReadDeadline(time.Time{})
			}
		}()
	}

	// The reader parses lines into units; one worker runs them in order.
	units := make(chan unit, queueDepth)
	var detachedCalls sync.WaitGroup
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		s.work(ctx, c, units, &detachedCalls)
	}()

	br := bufio.NewReaderSize(in, 64<<10)
	var buf []byte
	var readErr error
	for ctx.Err() == nil {
		line, tooLong, err := readLine(br, buf[:0], MaxLineBytes)
		if line != nil {
			buf = line
		}
		var u unit
		switch {
		case tooLong:
			s.log.Debug("rpc: input line too long")
			u = refused(errorResponse(nil, CodeParseError, fmt.Sprintf("parse error: line longer than %d bytes", MaxLineBytes)))
		case len(bytes.TrimSpace(line)) > 0:
			u = s.parseLine(line) // copies what it keeps: buf is reused
		}
		if len(u.calls) > 0 {
			select {
			case units <- u:
			case <-ctx.Done():
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
	}
	close(units)
	<-workerDone
	detachedCalls.Wait()
	if s.signOut {
		s.signOutAtEnd(parent, c, watchDone)
	}
	stopWatch()
	<-watchDone
	c.closeStreams()

	if err := c.writeErr(); err != nil {
		return err
	}
	if err := parent.Err(); err != nil {
		return err
	}
	if readErr != nil {
		return fmt.Errorf("rpc: read: %w", readErr)
	}
	return nil
}

// signOutAtEnd signs the node out and waits, within signOutWait, until
// the watch wrote the signedOut notification that follows the session's
// last events (or ended).
func (s *Server) signOutAtEnd(parent context.Context, c *conn, watchDone <-chan struct{}) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), signOutWait)
	defer cancel()
	select {
	case <-c.signedOut: // an earlier sign-out's: not the one to wait for
	default:
	}
	switch err := s.api.Logout(ctx); {
	case errors.Is(err, api.ErrNotLoggedIn):
		return // signed out already: nothing more comes
	case err != nil:
		// Signed out all the same (a store that did not close cleanly):
		// its signedOut notification follows.
		s.log.Warn("rpc: signing out at the end", "err", err)
	}
	select {
	case <-c.signedOut:
	case <-watchDone:
	case <-ctx.Done():
		s.log.Warn("rpc: the node's last notifications were not all written", "err", ctx.Err())
	}
}

// readLine reads one line into buf and returns it without its line ending.
// A line longer than max is discarded up to its end and reported as tooLong,
// never holding more than max+2 bytes. A final line without a newline is
// returned together with io.EOF.
func readLine(br *bufio.Reader, buf []byte, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > max+2 { // content + "\r\n"
				tooLong, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		if len(buf) > max {
			tooLong, buf = true, buf[:0]
		}
		if tooLong {
			return buf, true, err
		}
		return buf, false, err
	}
}

// request is a JSON-RPC request. ID is nil when absent (a client
// notification, never answered) and "null" when given as null.
type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"` // null when the request's is unknown
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type rpcError struct {
	Code    int       `json:"code"`
	Message string    `json:"message"`
	Data    errorData `json:"data"`
}

// errorData is every error's data: its code is what a client branches on,
// for the protocol's errors as for the node's.
type errorData struct {
	Code string `json:"code"`
}

// dataCodes is data.code of each protocol error; CodeApplication's is
// api.Code of the node's error.
var dataCodes = map[int]string{
	CodeParseError:     "parse_error",
	CodeInvalidRequest: "invalid_request",
	CodeMethodNotFound: "method_not_found",
	CodeInvalidParams:  "bad_request",
	CodeInternal:       "internal",
}

type notification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

// errorResponse is a protocol error (not CodeApplication) for id.
func errorResponse(id json.RawMessage, code int, msg string) *response {
	return &response{JSONRPC: "2.0", ID: id, Error: &rpcError{Code: code, Message: msg, Data: errorData{Code: dataCodes[code]}}}
}

// unit is what one input line asks for: one request or a batch (JSON-RPC
// 2.0 section 6). A batch is answered with one array of the responses of
// its requests, in their order, once all are done; a batch of only
// notifications is not answered.
type unit struct {
	calls []call
	batch bool
}

// call is one request of a unit: a handler to run, or a refusal (the
// response to a request refused before running, nil when the request is a
// notification and is not answered).
type call struct {
	req     *request
	h       connHandler
	lane    lane
	refusal *response
}

func refused(r *response) unit { return unit{calls: []call{{refusal: r}}} }

// parseLine decodes a line into the requests it holds. It never keeps a
// reference to line.
func (s *Server) parseLine(line []byte) unit {
	if !json.Valid(line) {
		return refused(errorResponse(nil, CodeParseError, "parse error: invalid JSON"))
	}
	// JSON text is UTF-8 (RFC 8259 §8.1), and the decoder would replace
	// what is not with U+FFFD: an id would come back changed, a message
	// would be sent other than written. Such a line is refused whole.
	if !validText(line) {
		var probe struct {
			ID json.RawMessage `json:"id"`
		}
		var id json.RawMessage
		if json.Unmarshal(line, &probe) == nil && validID(probe.ID) && validText(probe.ID) {
			id = probe.ID // the id is intact: say which request this was
		}
		return refused(errorResponse(id, CodeParseError, "parse error: not UTF-8 (invalid bytes or a lone surrogate escape)"))
	}
	if bytes.TrimLeft(line, " \t\r\n")[0] != '[' {
		return unit{calls: []call{s.parseRequest(line)}}
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(line, &elems); err != nil { // cannot fail on valid JSON
		return refused(errorResponse(nil, CodeParseError, "parse error: "+err.Error()))
	}
	if len(elems) == 0 {
		return refused(errorResponse(nil, CodeInvalidRequest, "invalid request: empty batch"))
	}
	u := unit{batch: true, calls: make([]call, 0, len(elems))}
	for _, e := range elems {
		u.calls = append(u.calls, s.parseRequest(e))
	}
	return u
}

// parseRequest decodes one request object into a call.
func (s *Server) parseRequest(raw []byte) call {
	if bytes.TrimLeft(raw, " \t\r\n")[0] != '{' {
		return call{refusal: errorResponse(nil, CodeInvalidRequest, "invalid request: not a JSON object")}
	}
	var req request
	if err := json.Unmarshal(raw, &req); err != nil {
		var probe struct {
			ID json.RawMessage `json:"id"`
		}
		var id json.RawMessage
		if json.Unmarshal(raw, &probe) == nil && validID(probe.ID) {
			id = probe.ID
		}
		return call{refusal: errorResponse(id, CodeInvalidRequest, "invalid request: "+err.Error())}
	}
	if !validID(req.ID) {
		return call{refusal: errorResponse(nil, CodeInvalidRequest, "invalid request: id must be a string, a number or null")}
	}
	if req.JSONRPC != "2.0" {
		return call{refusal: errorResponse(req.ID, CodeInvalidRequest, `invalid request: jsonrpc must be "2.0"`)}
	}
	if req.Method == "" {
		return call{refusal: errorResponse(req.ID, CodeInvalidRequest, "invalid request: missing method")}
	}
	h := s.handler(req.Method)
	if h == nil {
		s.log.Debug("rpc: unknown method", "method", req.Method)
		if req.ID == nil {
			return call{} // a notification: not answered, even on error
		}
		return call{refusal: errorResponse(req.ID, CodeMethodNotFound, "method not found: "+req.Method)}
	}
	return call{req: &req, h: h, lane: laneOf[req.Method]}
}

// handler returns the handler of method, nil if there is none.
func (s *Server) handler(method string) connHandler {
	h, ok := s.extra[method]
	if !ok {
		h, ok = methods[method]
	}
	if ok {
		return func(ctx context.Context, backend api.API, _ *conn, raw json.RawMessage) (any, error) {
			return h(ctx, backend, raw)
		}
	}
	return connMethods[method] // nil if none
}

// validID reports whether id is absent, null, a string or a number.
func validID(id json.RawMessage) bool {
	if id == nil || string(id) == "null" {
		return true
	}
	switch b := id[0]; {
	case b == '"', b == '-', b >= '0' && b <= '9':
		return true
	}
	return false
}

// validText reports whether the JSON text b (already valid JSON) is valid
// UTF-8 and its strings escape no lone UTF-16 surrogate ("\udc00"), the two
// ways a JSON string can hold what is not Unicode text.
func validText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '"':
			inString = !inString
		case inString && b[i] == '\\':
			i++
			if b[i] != 'u' {
				continue
			}
			r := hex4(b[i+1 : i+5])
			i += 4
			switch {
			case r >= 0xdc00 && r <= 0xdfff:
				return false // a low surrogate with no high one before it
			case r >= 0xd800 && r <= 0xdbff:
				if i+6 >= len(b) || b[i+1] != '\\' || b[i+2] != 'u' {
					return false
				}
				if lo := hex4(b[i+3 : i+7]); lo < 0xdc00 || lo > 0xdfff {
					return false
				}
				i += 6
			}
		}
	}
	return true
}

// hex4 is the value of four hex digits (valid: json.Valid checked them).
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// work runs units in order until units is closed. Once ctx has ended, what
// is left is dropped unread by the node.
func (s *Server) work(ctx context.Context, c *conn, units <-chan unit, detachedCalls *sync.WaitGroup) {
	sem := make(chan struct{}, maxInFlight)
	ls := &lanes{tail: map[string]chan struct{}{}}
	for u := range units {
		if ctx.Err() == nil {
			s.runUnit(ctx, c, u, sem, ls, detachedCalls)
		}
	}
}

// runUnit runs the calls of u in order: an inTurn call before the next
// starts, a detached one in a goroutine of detachedCalls (after the calls
// before it on its stream, for perStream). A single request's response is
// written when it is ready; a batch's, together once all are.
func (s *Server) runUnit(ctx context.Context, c *conn, u unit, sem chan struct{}, ls *lanes, detachedCalls *sync.WaitGroup) {
	resps := make([]*response, len(u.calls))
	var pending sync.WaitGroup // the detached calls of this unit
	for i, cl := range u.calls {
		if cl.h == nil || cl.lane == inTurn {
			r := cl.refusal
			if cl.h != nil {
				r = s.exec(ctx, c, cl)
			}
			if !u.batch && r != nil {
				c.write(r)
			}
			resps[i] = r
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		key := ""
		if cl.lane == perStream {
			key = streamKey(cl.req.Params)
		}
		prev, done := ls.enter(key)
		pending.Add(1)
		detachedCalls.Go(func() {
			defer pending.Done()
			defer func() { <-sem }()
			defer ls.leave(key, done)
			<-prev
			r := s.exec(ctx, c, cl)
			if !u.batch && r != nil {
				c.write(r)
			}
			resps[i] = r
		})
	}
	if !u.batch {
		return
	}
	writeBatch := func() {
		out := make([]*response, 0, len(resps))
		for _, r := range resps {
			if r != nil {
				out = append(out, r)
			}
		}
		if len(out) > 0 { // a batch of notifications is not answered
			c.write(out)
		}
	}
	if hasDetached(u) {
		detachedCalls.Go(func() { pending.Wait(); writeBatch() })
		return
	}
	writeBatch()
}

// streamKey is the lane of a perStream call: its streamId ("" when the
// params do not name one, and the call will be refused).
func streamKey(params json.RawMessage) string {
	var p struct {
		StreamID string `json:"streamId"`
	}
	if json.Unmarshal(params, &p) != nil || p.StreamID == "" {
		return ""
	}
	return "stream " + p.StreamID
}

// lanes orders the perStream calls of one stream: each waits for the one
// before it. A call with key "" waits for nothing.
type lanes struct {
	mu   sync.Mutex
	tail map[string]chan struct{} // key → done of its last call
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (l *lanes) enter(key string) (prev <-chan struct{}, done chan struct{}) {
	done = make(chan struct{})
	if key == "" {
		return closedChan, done
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	prev = closedChan
	if t, ok := l.tail[key]; ok {
		prev = t
	}
	l.tail[key] = done
	return prev, done
}

func (l *lanes) leave(key string, done chan struct{}) {
	close(done)
	if key == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tail[key] == done {
		delete(l.tail, key)
	}
}

// hasDetached reports whether u has a detached call.
func hasDetached(u unit) bool {
	for _, cl := range u.calls {
		if cl.h != nil && cl.lane != inTurn {
			return true
		}
	}
	return false
}

// exec calls cl's handler and returns its response (nil for a client
// notification).
func (s *Server) exec(ctx context.Context, c *conn, cl call) (resp *response) {
	req := cl.req
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("rpc: handler panicked", "method", req.Method, "panic", r, "stack", string(debug.Stack()))
			resp = nil
			if req.ID != nil {
				resp = errorResponse(req.ID, CodeInternal, "internal error")
			}
		}
	}()
	s.log.Debug("rpc: request", "method", req.Method, "id", string(req.ID))
	result, err := cl.h(ctx, s.api, c, req.Params)
	if err != nil {
		s.log.Debug("rpc: request failed", "method", req.Method, "id", string(req.ID), "err", err)
	}
	if req.ID == nil {
		return nil
	}
	var pe *paramError
	switch {
	case errors.As(err, &pe):
		return errorResponse(req.ID, CodeInvalidParams, "invalid params: "+pe.msg)
	case err != nil:
		return &response{JSONRPC: "2.0", ID: req.ID, Error: &rpcError{Code: CodeApplication, Message: err.Error(), Data: errorData{Code: api.Code(err)}}}
	default:
		return &response{JSONRPC: "2.0", ID: req.ID, Result: result}
	}
}

// conn is the output side of one Serve call: every line goes through write,
// under mu, so lines never interleave.
type conn struct {
	log     *slog.Logger
	cancel  context.CancelCauseFunc
	api     api.API
	streams connStreams // live streams (streams.go)
	// signedOut is told when the watch wrote a signedOut notification
	// (Server.SignOutAtEnd); nil otherwise.
	signedOut chan struct{}

	mu  sync.Mutex
	out io.Writer
	err error // first write error; later writes are dropped
}

func (c *conn) write(v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode appends the newline
		c.log.Error("rpc: encode", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	if _, err := c.out.Write(b.Bytes()); err != nil {
		c.err = fmt.Errorf("rpc: write: %w", err)
		c.cancel(c.err)
	}
}

func (c *conn) writeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *conn) notify(kind notice, params any) {
	c.write(&notification{JSONRPC: "2.0", Method: kind.method, Params: params})
}
