// Package rpc is the JSON-RPC 2.0 front end of the headless node daemon
// (eserver-node daemon), in the manner of signal-cli's jsonRpc mode: one JSON
// object per line on the input and output streams, requests answered
// concurrently, and the node's event stream turned into notifications.
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

// maxInFlight bounds concurrently handled requests; when reached, reading
// pauses until one finishes.
const maxInFlight = 64

// Server serves api.API over line-delimited JSON-RPC 2.0.
// One Server may serve several streams, each with its own Serve call.
type Server struct {
	api api.API
	log *slog.Logger
}

// NewServer returns a Server calling api. A nil logger discards logs.
func NewServer(backend api.API, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{api: backend, log: logger}
}

// Serve reads requests from in, one JSON object per line, and writes
// responses and notifications (from api.Watch) to out, one per line.
// Requests are handled concurrently; every output line is written whole by a
// single Write call.
//
// Serve returns nil when in reaches EOF, after the requests already read have
// been answered. It returns ctx's error when ctx ends (in-flight requests see
// the cancellation; if in has SetReadDeadline, as *os.File has, a pending
// read is interrupted, otherwise Serve returns once that read does), and an
// error when reading in or writing out fails. No goroutine started by Serve
// outlives it.
func (s *Server) Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c := &conn{log: s.log, out: out, cancel: cancel, api: s.api}

	watchCtx, stopWatch := context.WithCancel(ctx)
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

	br := bufio.NewReaderSize(in, 64<<10)
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	var buf []byte
	var readErr error
	for ctx.Err() == nil {
		line, tooLong, err := readLine(br, buf[:0], MaxLineBytes)
		if line != nil {
			buf = line
		}
		switch {
		case tooLong:
			s.log.Debug("rpc: input line too long")
			c.write(errorResponse(nil, CodeParseError, fmt.Sprintf("parse error: line longer than %d bytes", MaxLineBytes), ""))
		case len(bytes.TrimSpace(line)) > 0:
			s.handleLine(ctx, c, line, sem, &wg)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
	}
	wg.Wait()
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
	Code    int        `json:"code"`
	Message string     `json:"message"`
	Data    *errorData `json:"data,omitempty"`
}

type errorData struct {
	Code string `json:"code"`
}

type notification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

func errorResponse(id json.RawMessage, code int, msg, dataCode string) *response {
	e := &rpcError{Code: code, Message: msg}
	if dataCode != "" {
		e.Data = &errorData{Code: dataCode}
	}
	return &response{JSONRPC: "2.0", ID: id, Error: e}
}

// parseRequest decodes line, or returns the error response for it.
func parseRequest(line []byte) (*request, *response) {
	if !json.Valid(line) {
		return nil, errorResponse(nil, CodeParseError, "parse error: invalid JSON", "")
	}
	if bytes.TrimLeft(line, " \t\r\n")[0] != '{' {
		return nil, errorResponse(nil, CodeInvalidRequest, "invalid request: not a JSON object (batches are not supported)", "")
	}
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		var probe struct {
			ID json.RawMessage `json:"id"`
		}
		var id json.RawMessage
		if json.Unmarshal(line, &probe) == nil && validID(probe.ID) {
			id = probe.ID
		}
		return nil, errorResponse(id, CodeInvalidRequest, "invalid request: "+err.Error(), "")
	}
	if !validID(req.ID) {
		return nil, errorResponse(nil, CodeInvalidRequest, "invalid request: id must be a string, a number or null", "")
	}
	if req.JSONRPC != "2.0" {
		return nil, errorResponse(req.ID, CodeInvalidRequest, `invalid request: jsonrpc must be "2.0"`, "")
	}
	if req.Method == "" {
		return nil, errorResponse(req.ID, CodeInvalidRequest, "invalid request: missing method", "")
	}
	return &req, nil
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

// handleLine parses one request and starts its handler.
func (s *Server) handleLine(ctx context.Context, c *conn, line []byte, sem chan struct{}, wg *sync.WaitGroup) {
	req, errResp := parseRequest(line)
	if errResp != nil {
		s.log.Debug("rpc: bad request", "err", errResp.Error.Message)
		c.write(errResp)
		return
	}
	h, ok := methods[req.Method]
	if ch, isConn := connMethods[req.Method]; isConn {
		h, ok = func(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
			return ch(ctx, backend, c, raw)
		}, true
	}
	if !ok {
		s.log.Debug("rpc: unknown method", "method", req.Method)
		if req.ID != nil {
			c.write(errorResponse(req.ID, CodeMethodNotFound, "method not found: "+req.Method, ""))
		}
		return
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	wg.Go(func() {
		defer func() { <-sem }()
		s.run(ctx, c, req, h)
	})
}

// run calls h and writes its response (none for a client notification).
func (s *Server) run(ctx context.Context, c *conn, req *request, h handler) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("rpc: handler panicked", "method", req.Method, "panic", r, "stack", string(debug.Stack()))
			if req.ID != nil {
				c.write(errorResponse(req.ID, CodeInternal, "internal error", "internal"))
			}
		}
	}()
	s.log.Debug("rpc: request", "method", req.Method, "id", string(req.ID))
	result, err := h(ctx, s.api, req.Params)
	if err != nil {
		s.log.Debug("rpc: request failed", "method", req.Method, "id", string(req.ID), "err", err)
	}
	if req.ID == nil {
		return
	}
	var pe *paramError
	switch {
	case errors.As(err, &pe):
		c.write(errorResponse(req.ID, CodeInvalidParams, "invalid params: "+pe.msg, "bad_request"))
	case err != nil:
		c.write(errorResponse(req.ID, CodeApplication, err.Error(), api.Code(err)))
	default:
		c.write(&response{JSONRPC: "2.0", ID: req.ID, Result: result})
	}
}

// conn is the output side of one Serve call: every line goes through write,
// under mu, so lines never interleave.
type conn struct {
	log     *slog.Logger
	cancel  context.CancelCauseFunc
	api     api.API
	streams connStreams // live streams (streams.go)

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
