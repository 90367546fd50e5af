package rpc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"eserver/node/api"
)

// Live streams over JSON-RPC. A client opens one with openStream and feeds
// it with writeStream (base64) until closeStream; the streams are the
// connection's, and end with it. An incoming stream is announced with
// incomingStream and taken at once: its bytes follow as streamData
// notifications, as fast as the client reads them (the daemon writes one
// line at a time, so a slow client slows the sender: back-pressure carries
// through), then streamEnd.

// streamChunk is the most bytes one streamData carries (before base64).
const streamChunk = 48 << 10

// connStreams is one connection's open outgoing streams and the goroutines
// pumping incoming ones.
type connStreams struct {
	mu  sync.Mutex
	out map[string]io.WriteCloser
	wg  sync.WaitGroup
}

// streamData and streamEnd have no api type: api.API hands an accepted
// stream over as an io.ReadCloser, and the daemon, which reads it for the
// client, says what it read and how it ended in these two shapes. Their
// keys follow api's (streamId as in api.StreamEvent).
type (
	streamData struct {
		StreamID string `json:"streamId"`
		Data     string `json:"data"` // base64
	}
	streamEnd struct {
		StreamID string `json:"streamId"`
		Error    string `json:"error,omitempty"`
	}
)

// connHandler is a method that needs its connection's state.
type connHandler func(ctx context.Context, backend api.API, c *conn, raw json.RawMessage) (any, error)

var connMethods = map[string]connHandler{
	"openStream":  openStream,
	"writeStream": writeStream,
	"closeStream": closeStream,
}

func openStream(ctx context.Context, backend api.API, c *conn, raw json.RawMessage) (any, error) {
	var p struct {
		To    string `json:"to"`
		Label string `json:"label"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("to", p.To); err != nil {
		return nil, err
	}
	id, w, err := backend.OpenStream(ctx, p.To, p.Label)
	if err != nil {
		return nil, err
	}
	c.streams.mu.Lock()
	if c.streams.out == nil {
		c.streams.out = map[string]io.WriteCloser{}
	}
	c.streams.out[id] = w
	c.streams.mu.Unlock()
	return struct {
		StreamID string `json:"streamId"`
	}{id}, nil
}

func (c *conn) outStream(id string) (io.WriteCloser, error) {
	c.streams.mu.Lock()
	defer c.streams.mu.Unlock()
	w, ok := c.streams.out[id]
	if !ok {
		return nil, badParams("no open stream %q", id)
	}
	return w, nil
}

func writeStream(ctx context.Context, backend api.API, c *conn, raw json.RawMessage) (any, error) {
	var p struct {
		StreamID string `json:"streamId"`
		Data     string `json:"data"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	data, err := base64.StdEncoding.DecodeString(p.Data)
	if err != nil {
		return nil, badParams("data is not base64")
	}
	w, err := c.outStream(p.StreamID)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func closeStream(ctx context.Context, backend api.API, c *conn, raw json.RawMessage) (any, error) {
	var p struct {
		StreamID string `json:"streamId"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	w, err := c.outStream(p.StreamID)
	if err != nil {
		return nil, err
	}
	c.streams.mu.Lock()
	delete(c.streams.out, p.StreamID)
	c.streams.mu.Unlock()
	if err := w.Close(); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// incoming takes an announced stream and pumps it to the client.
func (c *conn) incoming(ctx context.Context, backend api.API, ev *api.StreamEvent) {
	c.notify(noteIncomingStream, ev)
	c.streams.wg.Go(func() {
		end := func(err error) {
			note := streamEnd{StreamID: ev.ID}
			if err != nil {
				note.Error = err.Error()
			}
			c.notify(noteStreamEnd, note)
		}
		r, err := backend.AcceptStream(ctx, ev.ID)
		if err != nil {
			end(err)
			return
		}
		stop := context.AfterFunc(ctx, func() { r.Close() })
		defer stop()
		defer r.Close()
		buf := make([]byte, streamChunk)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				c.notify(noteStreamData, streamData{ev.ID, base64.StdEncoding.EncodeToString(buf[:n])})
			}
			if errors.Is(err, io.EOF) {
				end(nil)
				return
			}
			if err != nil {
				end(err)
				return
			}
		}
	})
}

// closeStreams ends the connection's streams: outgoing ones are closed
// (cleanly: what was written arrives), incoming pumps stopped and waited.
func (c *conn) closeStreams() {
	c.streams.mu.Lock()
	out := c.streams.out
	c.streams.out = nil
	c.streams.mu.Unlock()
	for _, w := range out {
		w.Close()
	}
	c.streams.wg.Wait()
}
