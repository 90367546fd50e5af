package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"unicode/utf16"
	"unicode/utf8"

	"eserver/node/api"
)

// outputLines decodes what Serve wrote so far, one line each.
func outputLines(t *testing.T, out *syncBuffer) []line {
	t.Helper()
	var ls []line
	for _, s := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if s == "" {
			continue
		}
		l, err := parseLine([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	return ls
}

// ids is the id of every response among ls, in order ("[…]" for a batch).
func ids(ls []line) []string {
	var out []string
	for _, l := range ls {
		switch {
		case l.batch != nil:
			out = append(out, "["+strings.Join(ids(l.batch), ",")+"]")
		case l.Method == "":
			out = append(out, string(l.ID))
		}
	}
	return out
}

// TestRequestsInTurn: a request starts only once every request read
// before it has been answered, and the answers come in that order, so a
// client may send register and login (a dependent request) on
// consecutive lines without waiting.
func TestRequestsInTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		fake.LoginGate = make(chan struct{})
		inR, inW := io.Pipe()
		var out syncBuffer
		done := make(chan error, 1)
		go func() { done <- NewServer(fake, nil).Serve(context.Background(), inR, &out) }()
		io.WriteString(inW, strings.Join([]string{
			`{"jsonrpc":"2.0","id":1,"method":"register","params":{"server":"s","username":"bot","password":"pw"}}`,
			`{"jsonrpc":"2.0","id":2,"method":"login","params":{"username":"bot","password":"pw"}}`,
			`{"jsonrpc":"2.0","id":3,"method":"listContacts"}`,
			`{"jsonrpc":"2.0","method":"acceptContact","params":{"username":"carol"}}`,
			`not json`,
			`{"jsonrpc":"2.0","id":4,"method":"nope"}`,
			`{"jsonrpc":"2.0","id":5,"method":"send","params":{"to":"carol","text":"hi"}}`,
		}, "\n")+"\n")
		synctest.Wait()
		if calls := fake.Calls(); !slices.Equal(calls, []string{"Register s bot pw"}) {
			t.Fatalf("while login is held, calls = %q: want only Register (Login records when it ends)", calls)
		}
		if got := ids(outputLines(t, &out)); !slices.Equal(got, []string{"1"}) {
			t.Fatalf("while login is held, answered %q, want only 1", got)
		}
		close(fake.LoginGate)
		inW.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := []string{"Register s bot pw", "Login  bot pw ", "Contacts", "AcceptContact carol", "Send carol hi"}
		if calls := fake.Calls(); !slices.Equal(calls, want) {
			t.Errorf("calls = %q, want %q", calls, want)
		}
		if got := ids(outputLines(t, &out)); !slices.Equal(got, []string{"1", "2", "3", "null", "4", "5"}) {
			t.Errorf("answered %q, want 1, 2, 3, null (the parse error), 4, 5", got)
		}
	})
}

// TestDetachedCallsDoNotHoldUp: the calls that may wait without bound start
// in turn but hold nothing up; the calls on one stream keep their order.
func TestDetachedCallsDoNotHoldUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		var mu sync.Mutex
		var started []string // in the order the handlers started
		start := func(s string) {
			mu.Lock()
			defer mu.Unlock()
			started = append(started, s)
		}
		extra := map[string]handler{
			"sendFile": func(context.Context, api.API, json.RawMessage) (any, error) {
				start("sendFile")
				<-gate
				return empty{}, nil
			},
			"writeStream": func(_ context.Context, _ api.API, raw json.RawMessage) (any, error) {
				var p struct{ StreamID, Data string }
				json.Unmarshal(raw, &p)
				start(p.StreamID + " " + p.Data)
				if p.Data == "slow" {
					<-gate
				}
				return empty{}, nil
			},
		}
		inR, inW := io.Pipe()
		var out syncBuffer
		done := make(chan error, 1)
		srv := NewServer(newFake(), nil)
		srv.extra = extra
		go func() { done <- srv.Serve(context.Background(), inR, &out) }()
		io.WriteString(inW, strings.Join([]string{
			`{"jsonrpc":"2.0","id":1,"method":"sendFile","params":{}}`,
			`{"jsonrpc":"2.0","id":2,"method":"writeStream","params":{"streamId":"s1","data":"slow"}}`,
			`{"jsonrpc":"2.0","id":3,"method":"writeStream","params":{"streamId":"s1","data":"next"}}`,
			`{"jsonrpc":"2.0","id":4,"method":"writeStream","params":{"streamId":"s2","data":"other"}}`,
			`{"jsonrpc":"2.0","id":5,"method":"listContacts"}`,
			`[{"jsonrpc":"2.0","id":6,"method":"sendFile"},{"jsonrpc":"2.0","id":7,"method":"listContacts"}]`,
			`{"jsonrpc":"2.0","id":8,"method":"listContacts"}`,
		}, "\n")+"\n")
		synctest.Wait()
		got := ids(outputLines(t, &out))
		slices.Sort(got)
		if !slices.Equal(got, []string{"4", "5", "8"}) {
			t.Errorf("while sendFile and the first write to s1 are held, answered %q, want 4, 5, 8", got)
		}
		mu.Lock()
		early := slices.Contains(started, "s1 next")
		mu.Unlock()
		if early {
			t.Errorf("the second write to s1 started before the first ended: %q", started)
		}
		close(gate)
		inW.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got = ids(outputLines(t, &out))
		slices.Sort(got)
		if !slices.Equal(got, []string{"1", "2", "3", "4", "5", "8", "[6,7]"}) {
			t.Errorf("answered %q", got)
		}
		if i, j := slices.Index(started, "s1 slow"), slices.Index(started, "s1 next"); i < 0 || j < i {
			t.Errorf("writes to s1 started in the order %q", started)
		}
	})
}

// specMethods are the methods the examples of the JSON-RPC 2.0
// specification (section 7) call.
var specMethods = map[string]handler{
	"subtract": func(_ context.Context, _ api.API, raw json.RawMessage) (any, error) {
		var pos []float64
		if json.Unmarshal(raw, &pos) == nil && len(pos) == 2 {
			return pos[0] - pos[1], nil
		}
		var named struct{ Minuend, Subtrahend float64 }
		if err := json.Unmarshal(raw, &named); err != nil {
			return nil, badParams("%v", err)
		}
		return named.Minuend - named.Subtrahend, nil
	},
	"sum": func(_ context.Context, _ api.API, raw json.RawMessage) (any, error) {
		var ns []float64
		if err := json.Unmarshal(raw, &ns); err != nil {
			return nil, badParams("%v", err)
		}
		var s float64
		for _, n := range ns {
			s += n
		}
		return s, nil
	},
	"get_data":     func(context.Context, api.API, json.RawMessage) (any, error) { return []any{"hello", 5}, nil },
	"update":       func(context.Context, api.API, json.RawMessage) (any, error) { return empty{}, nil },
	"notify_hello": func(context.Context, api.API, json.RawMessage) (any, error) { return empty{}, nil },
	"notify_sum":   func(context.Context, api.API, json.RawMessage) (any, error) { return empty{}, nil },
}

// TestJSONRPCSpecExamples holds the daemon to the examples of the JSON-RPC
// 2.0 specification, section 7 (batches are its section 6): the same
// responses, compared by id, result and error code (messages are the
// daemon's own, and every error carries data.code too). want "" means no
// answer at all.
func TestJSONRPCSpecExamples(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"positional params", `{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}`,
			`{"jsonrpc": "2.0", "result": 19, "id": 1}`},
		{"positional params reversed", `{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}`,
			`{"jsonrpc": "2.0", "result": -19, "id": 2}`},
		{"named params", `{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}`,
			`{"jsonrpc": "2.0", "result": 19, "id": 3}`},
		{"named params reordered", `{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}`,
			`{"jsonrpc": "2.0", "result": 19, "id": 4}`},
		{"notification", `{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}`, ``},
		{"notification of no method", `{"jsonrpc": "2.0", "method": "foobar"}`, ``},
		{"non-existent method", `{"jsonrpc": "2.0", "method": "foobar", "id": "1"}`,
			`{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}`},
		{"invalid JSON", `{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]`,
			`{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}`},
		{"invalid Request object", `{"jsonrpc": "2.0", "method": 1, "params": "bar"}`,
			`{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}`},
		{"batch, invalid JSON", `[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},{"jsonrpc": "2.0", "method"]`,
			`{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}`},
		{"empty array", `[]`,
			`{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}`},
		{"invalid batch, not empty", `[1]`,
			`[{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}]`},
		{"invalid batch", `[1,2,3]`,
			`[{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
			  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
			  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}]`},
		{"batch", `[
			{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
			{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
			{"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
			{"foo": "boo"},
			{"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
			{"jsonrpc": "2.0", "method": "get_data", "id": "9"}]`,
			`[{"jsonrpc": "2.0", "result": 7, "id": "1"},
			  {"jsonrpc": "2.0", "result": 19, "id": "2"},
			  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
			  {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
			  {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}]`},
		{"batch of notifications", `[
			{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
			{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]`, ``},
		// The daemon's own methods in a batch: answered in the batch's order.
		{"daemon batch", `[{"jsonrpc":"2.0","id":1,"method":"register","params":{"server":"s","username":"bot","password":"pw"}},
			{"jsonrpc":"2.0","id":2,"method":"login","params":{"username":"bot","password":"pw"}},
			{"jsonrpc":"2.0","method":"logout"},
			{"jsonrpc":"2.0","id":3,"method":"send","params":{"to":"bob"}}]`,
			`[{"jsonrpc":"2.0","id":1,"result":{"username":"bot"}},
			  {"jsonrpc":"2.0","id":2,"result":{"username":"bot","peerId":"12D3KooWfake","server":"srv","role":"supernode","supernodeAllowed":true,"supernodeUploadCap":65536,"status":"","nick":"Al","subnick":"","media":"","avatar":"ab","avatarPath":"/p/ab.png"}},
			  {"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"invalid params: missing text"}}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := serveWith(t, newFake(), specMethods)
			h.send(strings.ReplaceAll(tt.in, "\n", " "))
			h.send(`{"jsonrpc":"2.0","id":"end","method":"listContacts"}`)
			got := h.answer()
			if tt.want == "" {
				if string(got.ID) != `"end"` {
					t.Fatalf("answered %s, want nothing", got.raw)
				}
				return
			}
			want, err := parseLineAs([]byte(strings.ReplaceAll(tt.want, "\n", " ")), false) // the spec's errors have no data
			if err != nil {
				t.Fatal(err)
			}
			if (want.batch == nil) != (got.batch == nil) {
				t.Fatalf("answered %s, want %s", got.raw, tt.want)
			}
			wants, gots := []line{want}, []line{got}
			if want.batch != nil {
				wants, gots = want.batch, got.batch
			}
			if len(gots) != len(wants) {
				t.Fatalf("answered %d responses, want %d: %s", len(gots), len(wants), got.raw)
			}
			for i := range wants {
				sameResponse(t, gots[i], wants[i])
			}
			if end := h.answer(); string(end.ID) != `"end"` {
				t.Errorf("answered %s after the response, want nothing more", end.raw)
			}
		})
	}
}

// sameResponse compares a response with the spec's: id, result, error code.
func sameResponse(t *testing.T, got, want line) {
	t.Helper()
	if string(compact(got.ID)) != string(compact(want.ID)) {
		t.Errorf("id %s, want %s (%s)", got.ID, want.ID, got.raw)
	}
	if (got.Error == nil) != (want.Error == nil) || (got.Error != nil && got.Error.Code != want.Error.Code) {
		t.Errorf("response %s, want %s", got.raw, want.raw)
		return
	}
	if got.Error == nil {
		jsonEqual(t, "result", got.Result, string(want.Result))
	} else if got.Error.Data.Code != dataCodes[got.Error.Code] {
		t.Errorf("data.code %q, want %q", got.Error.Data.Code, dataCodes[got.Error.Code])
	}
}

func compact(b []byte) []byte {
	var out strings.Builder
	for _, c := range string(b) {
		if c != ' ' {
			out.WriteRune(c)
		}
	}
	if out.Len() == 0 {
		return []byte("null")
	}
	return []byte(out.String())
}

// TestNotUTF8Refused: JSON text is UTF-8; a line that is not (raw invalid
// bytes, or an escaped lone surrogate) is refused with a parse error, never
// decoded with U+FFFD in place of what was sent. The id is echoed when it
// is intact.
func TestNotUTF8Refused(t *testing.T) {
	send := func(id, text string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"method":"send","params":{"to":"bob","text":"` + text + `"}}`
	}
	tests := []struct {
		name, line string
		wantID     string // of the parse error; "" when the line is accepted
		wantText   string // what Send got, when accepted
	}{
		{"invalid byte in the id", `{"jsonrpc":"2.0","id":"u2` + "\xff" + `","method":"listContacts"}`, "null", ""},
		{"invalid byte in a param", send("7", "caf\xe9"), "7", ""},
		{"invalid byte in a string id's param", send(`"a"`, "\xff"), `"a"`, ""},
		{"truncated sequence", send("7", "\xe2\x82"), "7", ""},
		{"overlong encoding", send("7", "\xc0\xaf"), "7", ""},
		{"surrogate encoded in UTF-8", send("7", "\xed\xa0\x80"), "7", ""},
		{"lone high surrogate escape", send("7", `\ud800`), "7", ""},
		{"lone high surrogate escape then a letter", send("7", `\ud800A`), "7", ""},
		{"high surrogate escape then a non-surrogate escape", send("7", `\ud800\u0041`), "7", ""},
		{"two high surrogate escapes", send("7", `\ud83d\ud83d`), "7", ""},
		{"lone low surrogate escape", send("7", `\udc00`), "7", ""},
		{"reversed surrogate pair", send("7", `\ude00\ud83d`), "7", ""},
		{"lone surrogate escape in the id", `{"jsonrpc":"2.0","id":"\udfff","method":"listContacts"}`, "null", ""},
		{"invalid byte in a batch", `[` + send("1", "ok") + `,` + send("2", "\xff") + `]`, "null", ""},
		{"invalid byte in a key", `{"jsonrpc":"2.0","id":7,"method":"send","params":{"to":"bob","text":"x","` + "\xff" + `":1}}`, "7", ""},
		{"surrogate pair escape", send("7", `\ud83d\ude00`), "", "😀"},
		{"upper-case surrogate pair escape", send("7", `\uD83D\uDE00`), "", "😀"},
		{"escaped backslash before u", send("7", `\\ud800`), "", `\ud800`},
		{"U+FFFD as sent", send("7", "\uFFFD"), "", "\uFFFD"},
		{"escaped U+FFFD", send("7", `\ufffd`), "", "\uFFFD"},
		{"four-byte UTF-8", send("7", "😀"), "", "😀"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			h := serve(t, fake)
			h.send(tt.line)
			got := h.answer()
			if tt.wantID != "" {
				if got.Error == nil || got.Error.Code != CodeParseError || string(got.ID) != tt.wantID {
					t.Errorf("answered %s, want a parse error with id %s", got.raw, tt.wantID)
				}
				if calls := fake.Calls(); len(calls) != 0 {
					t.Errorf("the node was called: %q", calls)
				}
				return
			}
			if got.Error != nil {
				t.Fatalf("answered %s, want a result", got.raw)
			}
			if calls := fake.Calls(); !slices.Equal(calls, []string{"Send bob " + tt.wantText}) {
				t.Errorf("calls = %q, want Send of %q", calls, tt.wantText)
			}
		})
	}
}

// refValidText is validText written another way, for the fuzz test: every
// string's UTF-16 code units decoded, with no replacement character that
// was not sent as one.
func refValidText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		var units []uint16
		for i++; b[i] != '"'; i++ {
			if b[i] == '\\' {
				i++
				if b[i] == 'u' {
					var u uint16
					fmt.Sscanf(string(b[i+1:i+5]), "%04x", &u)
					units = append(units, u)
					i += 4
				} else {
					units = append(units, uint16(b[i]))
				}
				continue
			}
			r, n := utf8.DecodeRune(b[i:])
			units = utf16.AppendRune(units, r)
			i += n - 1
		}
		if strings.Count(string(utf16.Decode(units)), "\uFFFD") != countUnit(units, 0xfffd) {
			return false
		}
	}
	return true
}

func countUnit(us []uint16, u uint16) int {
	n := 0
	for _, x := range us {
		if x == u {
			n++
		}
	}
	return n
}

// FuzzParseLine: the request decoder never panics; a line is refused with
// a parse error exactly when it is not JSON or not UTF-8 text (checked
// against a second implementation); what it accepts, it decodes unchanged.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"send","params":{"to":"b","text":"x"}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"logout"},{"jsonrpc":"2.0","method":"logout"},1]`,
		`[]`, `[1,2,3]`, `{"jsonrpc":"2.0","id":"u2` + "\xff" + `","method":"x"}`,
		`{"a":"\ud83d\ude00\\ud800\udc00"}`, `"\ud800"`, `{"jsonrpc":"2.0","method":"sendFile","params":{"streamId":"s"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"writeStream","params":{"streamId":"s1","data":""}}`,
	} {
		f.Add([]byte(s))
	}
	srv := NewServer(newFake(), nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		u := srv.parseLine(b)
		if len(u.calls) == 0 {
			t.Fatalf("no call for %q", b)
		}
		isJSON := json.Valid(b)
		wantParseError := !isJSON || !refValidText(b)
		first := u.calls[0].refusal
		gotParseError := !u.batch && first != nil && first.Error.Code == CodeParseError
		if gotParseError != wantParseError {
			t.Fatalf("%q: parse error %v, want %v", b, gotParseError, wantParseError)
		}
		if wantParseError {
			return
		}
		for _, c := range u.calls {
			if c.refusal != nil && c.refusal.Error.Data.Code == "" {
				t.Fatalf("%q: refusal without data.code: %+v", b, c.refusal.Error)
			}
			if c.req == nil {
				continue
			}
			if c.h == nil {
				t.Fatalf("%q: a request without a handler", b)
			}
			// Accepted params decode to the very strings sent: re-encoded
			// and decoded again, nothing changes.
			var v1 any
			if len(c.req.Params) > 0 {
				if err := json.Unmarshal(c.req.Params, &v1); err != nil {
					t.Fatalf("%q: params do not decode: %v", b, err)
				}
				re, _ := json.Marshal(v1)
				var v2 any
				json.Unmarshal(re, &v2)
				if !reflect.DeepEqual(v1, v2) {
					t.Fatalf("%q: params change on a round trip", b)
				}
			}
		}
	})
}
