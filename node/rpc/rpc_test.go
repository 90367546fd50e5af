package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"eserver/node/api"
	"eserver/node/api/apitest"
)

// newFake is the shared api.API fake as the daemon's tests use it.
func newFake() *apitest.Fake {
	f := apitest.New()
	f.Snapshot = &api.Snapshot{}
	f.Me = api.Account{Username: "alice", PeerID: "12D3KooWfake", Server: "srv", Role: api.RoleSupernode, SupernodeAllowed: true,
		SupernodeUploadCap: 64 << 10, Presence: api.Presence{Status: api.StatusBusy, Nick: "Al", Avatar: "ab"}, AvatarPath: "/p/ab.png"}
	f.SendID = func(to string) string { return "m-" + to }
	f.Verified["bob"] = true
	revoked := testTime.Add(time.Hour)
	f.DeviceList = []api.Device{
		{PeerID: "12D3KooWA", Name: "laptop", FirstLogin: testTime, LastSeen: testTime, Current: true, Online: true, Listed: true},
		{PeerID: "12D3KooWB", Name: "phone", FirstLogin: testTime, LastSeen: testTime, Revoked: &revoked},
	}
	f.TransferList = []api.Transfer{{ID: "t1", Peer: "bob", Outgoing: true, Name: "a.png", Size: 10, State: api.TransferActive, Bytes: 4,
		Rate: 2.5, ETA: 3 * time.Second, Path: "/tmp/a.png", Type: "image/png", Thumbnail: []byte{1, 2, 3}}}
	f.ConversationList = []api.Conversation{{ID: "#c1", Members: []string{"alice", "bob", "carol"}}}
	return f
}

// line is one decoded output line.
type line struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    *struct {
			Code string `json:"code"`
		} `json:"data"`
	} `json:"error"`
	raw   string
	batch []line // the responses of a batch, when the line is an array
}

// harness runs Serve over io.Pipes.
type harness struct {
	t      *testing.T
	fake   *apitest.Fake
	in     *io.PipeWriter
	lines  chan line
	done   chan error
	cancel context.CancelFunc
	notes  []line // notifications seen while waiting for a response
}

func serve(t *testing.T, fake *apitest.Fake) *harness {
	t.Helper()
	return serveWith(t, fake, nil)
}

// serveWith serves fake with extra methods beside the daemon's (replacing
// those of the same name).
func serveWith(t *testing.T, fake *apitest.Fake, extra map[string]handler) *harness {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, fake: fake, in: inW, lines: make(chan line, 4096), done: make(chan error, 1), cancel: cancel}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() {
		srv := NewServer(fake, logger)
		srv.extra = extra
		err := srv.Serve(ctx, inR, outW)
		outW.Close()
		h.done <- err
	}()
	go func() {
		defer close(h.lines)
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			l, err := parseLine(sc.Bytes())
			if err != nil {
				t.Error(err)
				continue
			}
			h.lines <- l
		}
	}()
	t.Cleanup(func() {
		h.in.Close()
		for range h.lines {
		}
		if err := <-h.done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Serve: %v", err)
		}
		cancel()
	})
	return h
}

// parseLine decodes an output line: a response or a notification, or a
// batch's array of responses, each holding jsonrpc "2.0" and, when an
// error, data.code.
func parseLine(b []byte) (line, error) { return parseLineAs(b, true) }

// parseLineAs is parseLine, requiring data.code in errors or not.
func parseLineAs(b []byte, needData bool) (line, error) {
	l := line{raw: string(b)}
	if len(b) > 0 && b[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(b, &raws); err != nil || len(raws) == 0 {
			return l, fmt.Errorf("output line is not a JSON array of responses: %q: %v", b, err)
		}
		for _, r := range raws {
			e, err := parseLineAs(r, needData)
			if err != nil {
				return l, err
			}
			if e.batch != nil || e.Method != "" {
				return l, fmt.Errorf("batch holds something else than responses: %q", b)
			}
			l.batch = append(l.batch, e)
		}
		return l, nil
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("output line is not JSON: %q: %v", b, err)
	}
	if l.JSONRPC != "2.0" {
		return l, fmt.Errorf("output line without jsonrpc 2.0: %s", b)
	}
	if needData && l.Error != nil && (l.Error.Data == nil || l.Error.Data.Code == "") {
		return l, fmt.Errorf("error without data.code: %s", b)
	}
	return l, nil
}

func (h *harness) send(s string) {
	h.t.Helper()
	if _, err := io.WriteString(h.in, s+"\n"); err != nil {
		h.t.Fatalf("write request: %v", err)
	}
}

func (h *harness) next() line {
	h.t.Helper()
	select {
	case l, ok := <-h.lines:
		if !ok {
			h.t.Fatal("output closed")
		}
		return l
	case <-time.After(5 * time.Second):
		h.t.Fatal("timed out waiting for output")
	}
	panic("unreachable")
}

// answer returns the next line that is not a notification: a response or
// a batch's, keeping notifications.
func (h *harness) answer() line {
	h.t.Helper()
	for {
		l := h.next()
		if l.Method != "" {
			h.notes = append(h.notes, l)
			continue
		}
		return l
	}
}

// response returns the response with id (raw JSON), keeping notifications.
func (h *harness) response(id string) line {
	h.t.Helper()
	for {
		l := h.answer()
		if l.batch != nil {
			h.t.Fatalf("got a batch's responses %s, want id %s", l.raw, id)
		}
		if string(l.ID) != id {
			h.t.Fatalf("got response %s, want id %s", l.raw, id)
		}
		return l
	}
}

// notification returns the next notification.
func (h *harness) notification() line {
	h.t.Helper()
	if len(h.notes) > 0 {
		l := h.notes[0]
		h.notes = h.notes[1:]
		return l
	}
	l := h.next()
	if l.Method == "" {
		h.t.Fatalf("got response %s, want a notification", l.raw)
	}
	return l
}

// call sends method with params as request id 1 and returns its response.
func (h *harness) call(method, params string) line {
	h.t.Helper()
	req := `{"jsonrpc":"2.0","id":1,"method":"` + method + `"`
	if params != "" {
		req += `,"params":` + params
	}
	h.send(req + "}")
	return h.response("1")
}

func jsonEqual(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v in %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad want: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

var testTime = time.Date(2024, 1, 2, 5, 4, 5, 678_900_000, time.FixedZone("CEST", 2*3600))

func TestMethods(t *testing.T) {
	contacts := []api.Contact{
		{Username: "bob", Relation: api.RelationAccepted, Via: api.ViaDirect, Verified: true,
			Presence: api.Presence{Status: api.StatusBusy, Nick: "Bob", Subnick: "coding", Media: "Daft Punk"}},
		{Username: "carol", Relation: api.RelationPendingIn, Via: api.ViaOffline, RequestMessage: "hi, it's carol", KeyChanged: &testTime},
	}
	messages := []api.Message{
		{ID: "m1", From: "alice", To: "bob", Text: "hey <b>", Time: testTime, State: api.StateDelivered},
		{ID: "m2", From: "bob", To: "alice", Text: "yo", Time: testTime.Add(time.Second), State: api.StateReceived},
	}
	tests := []struct {
		name, method, params string
		noData               bool // fake returns no contacts/messages
		wantCall             string
		wantResult           string
	}{
		{"register", "register", `{"server":"/ip4/1.2.3.4/tcp/1","username":"alice","password":"pw"}`,
			false, "Register /ip4/1.2.3.4/tcp/1 alice pw", `{"username":"alice"}`},
		{"login full", "login", `{"server":"srv","username":"alice","password":"pw","status":"busy"}`,
			false, "Login srv alice pw busy", `{"username":"alice","peerId":"12D3KooWfake","server":"srv","role":"supernode",
			"supernodeAllowed":true,"supernodeUploadCap":65536,"status":"busy","nick":"Al","subnick":"","media":"","avatar":"ab","avatarPath":"/p/ab.png"}`},
		{"login minimal", "login", `{"username":"alice","password":"pw"}`,
			false, "Login  alice pw ", `{"username":"alice","peerId":"12D3KooWfake","server":"srv","role":"supernode",
			"supernodeAllowed":true,"supernodeUploadCap":65536,"status":"","nick":"Al","subnick":"","media":"","avatar":"ab","avatarPath":"/p/ab.png"}`},
		{"logout", "logout", `{}`, false, "Logout", `{}`},
		{"account", "account", `{}`, false, "Account", `{"username":"alice","peerId":"12D3KooWfake","server":"srv","role":"supernode",
			"supernodeAllowed":true,"supernodeUploadCap":65536,"status":"busy","nick":"Al","subnick":"","media":"","avatar":"ab","avatarPath":"/p/ab.png"}`},
		{"logout no params", "logout", ``, false, "Logout", `{}`},
		{"logout null params", "logout", `null`, false, "Logout", `{}`},
		{"addContact", "addContact", `{"username":"bob","message":"it's alice"}`, false, "AddContact bob it's alice", `{}`},
		{"addContact no message", "addContact", `{"username":"bob"}`, false, "AddContact bob ", `{}`},
		{"acceptContact", "acceptContact", `{"username":"carol"}`, false, "AcceptContact carol", `{}`},
		{"declineContact", "declineContact", `{"username":"carol"}`, false, "DeclineContact carol", `{}`},
		{"blockContact", "blockContact", `{"username":"eve"}`, false, "BlockContact eve", `{}`},
		{"unblockContact", "unblockContact", `{"username":"eve"}`, false, "UnblockContact eve", `{}`},
		{"removeContact", "removeContact", `{"username":"bob"}`, false, "RemoveContact bob", `{}`},
		{"listContacts", "listContacts", `{}`, false, "Contacts", `{"contacts":[
			{"username":"bob","nick":"Bob","subnick":"coding","status":"busy","media":"Daft Punk","relation":"accepted","via":"direct","verified":true},
			{"username":"carol","nick":"","subnick":"","status":"offline","media":"","relation":"pending-in","via":"offline","requestMessage":"hi, it's carol","verified":false,"keyChanged":"2024-01-02T03:04:05.678Z"}]}`},
		{"listContacts empty", "listContacts", ``, true, "Contacts", `{"contacts":[]}`},
		{"setSupernode on", "setSupernode", `{"allowed":true}`, false, "SetSupernode allowed=true", `{}`},
		{"listDevices", "listDevices", `{}`, false, "Devices", `{"devices":[
			{"peerId":"12D3KooWA","name":"laptop","firstLogin":"2024-01-02T03:04:05.678Z","lastSeen":"2024-01-02T03:04:05.678Z","current":true,"online":true,"listed":true},
			{"peerId":"12D3KooWB","name":"phone","firstLogin":"2024-01-02T03:04:05.678Z","lastSeen":"2024-01-02T03:04:05.678Z","revoked":"2024-01-02T04:04:05.678Z","current":false,"online":false,"listed":false}]}`},
		{"revokeDevice", "revokeDevice", `{"peerId":"12D3KooWB","password":"pw"}`, false, "RevokeDevice 12D3KooWB pw", `{}`},
		{"revokeDevice this one", "revokeDevice", `{"peerId":"12D3KooWA"}`, false, "RevokeDevice 12D3KooWA", `{}`},
		{"sendFile", "sendFile", `{"to":"bob","path":"/tmp/a.txt"}`, false, "SendFile bob /tmp/a.txt", `{"transferId":"t1"}`},
		{"acceptFile", "acceptFile", `{"transferId":"t1","dir":"/tmp/in"}`, false, "AcceptFile t1 /tmp/in", `{}`},
		{"acceptFile default dir", "acceptFile", `{"transferId":"t1"}`, false, "AcceptFile t1 ", `{}`},
		{"declineFile", "declineFile", `{"transferId":"t1"}`, false, "DeclineFile t1", `{}`},
		{"pauseTransfer", "pauseTransfer", `{"transferId":"t1"}`, false, "PauseTransfer t1", `{}`},
		{"resumeTransfer", "resumeTransfer", `{"transferId":"t1"}`, false, "ResumeTransfer t1", `{}`},
		{"cancelTransfer", "cancelTransfer", `{"transferId":"t1"}`, false, "CancelTransfer t1", `{}`},
		{"listTransfers", "listTransfers", `{}`, false, "Transfers",
			`{"transfers":[{"transferId":"t1","peer":"bob","outgoing":true,"name":"a.png","size":10,"state":"active","bytes":4,
			"rate":2.5,"eta":3000000000,"path":"/tmp/a.png","type":"image/png","thumbnail":"AQID","total":10}]}`},
		{"changePassword", "changePassword", `{"oldPassword":"a","newPassword":"b"}`, false, "ChangePassword a b", `{}`},
		{"safetyNumber", "safetyNumber", `{"username":"bob"}`, false, "SafetyNumber bob",
			`{"username":"bob","number":"11111 22222 33333 44444 55555 66666 77777 88888 99999 00000 12345 67890","code":"AQID","verified":true}`},
		{"verifyContact", "verifyContact", `{"username":"bob","verified":true}`, false, `VerifyContact bob true ""`, `{}`},
		{"verifyContact with code", "verifyContact", `{"username":"bob","verified":true,"code":"AQID"}`, false, `VerifyContact bob true "AQID"`, `{}`},
		{"setSupernode off", "setSupernode", `{"allowed":false}`, false, "SetSupernode allowed=false", `{}`},
		{"setSupernode cap", "setSupernode", `{"uploadCap":131072}`, false, "SetSupernode uploadCap=131072", `{}`},
		{"setSupernode both", "setSupernode", `{"allowed":true,"uploadCap":0}`, false, "SetSupernode allowed=true uploadCap=0", `{}`},
		{"setPresence subnick only", "setPresence", `{"subnick":"at lunch"}`, false,
			"SetPresence subnick=at lunch", `{}`},
		{"setPresence all", "setPresence", `{"status":"away","nick":"Al","subnick":"","media":"Song"}`, false,
			"SetPresence status=away nick=Al subnick= media=Song", `{}`},
		{"setPresence invisible", "setPresence", `{"status":"invisible"}`, false,
			"SetPresence status=invisible", `{}`},
		{"send", "send", `{"to":"bob","text":"hello \u00e9 <3"}`, false, "Send bob hello é <3", `{"messageId":"m-bob","id":"m-bob"}`},
		{"history full", "history", `{"with":"bob","limit":10,"before":"m9"}`, false, `History bob 10 "m9"`, `{"messages":[
			{"messageId":"m1","id":"m1","from":"alice","to":"bob","text":"hey <b>","time":"2024-01-02T03:04:05.678Z","state":"delivered"},
			{"messageId":"m2","id":"m2","from":"bob","to":"alice","text":"yo","time":"2024-01-02T03:04:06.678Z","state":"received"}]}`},
		{"history default limit", "history", `{"with":"bob"}`, true, `History bob 50 ""`, `{"messages":[]}`},
		{"history max limit", "history", `{"with":"bob","limit":1000}`, true, `History bob 1000 ""`, `{"messages":[]}`},
		{"roomMessages default limit", "roomMessages", `{"room":"golang"}`, true, `RoomMessages golang 100 ""`, `{"messages":[]}`},
		{"roomMessages page", "roomMessages", `{"room":"golang","limit":1000,"before":"r9"}`, true, `RoomMessages golang 1000 "r9"`, `{"messages":[]}`},
		{"setAvatar", "setAvatar", `{"path":"/tmp/me.png"}`, false, "SetAvatar /tmp/me.png 0 0 0", `{}`},
		{"setAvatar cropped", "setAvatar", `{"path":"/tmp/me.png","crop":{"x":5,"y":6,"size":70}}`, false, "SetAvatar /tmp/me.png 5 6 70", `{}`},
		{"setAvatar default", "setAvatar", `{"path":""}`, false, "SetAvatar  0 0 0", `{}`},
		{"typing", "typing", `{"to":"bob"}`, false, "Typing bob", `{}`},
		{"nudge", "nudge", `{"to":"bob"}`, false, "Nudge bob", `{}`},
		{"markRead", "markRead", `{"conversation":"bob"}`, false, "MarkRead bob", `{}`},
		{"markRead a conversation", "markRead", `{"conversation":"#c1"}`, false, "MarkRead #c1", `{}`},
		{"setContactGroup", "setContactGroup", `{"username":"bob","group":"Work"}`, false, "SetContactGroup bob Work", `{}`},
		{"setContactGroup none", "setContactGroup", `{"username":"bob","group":""}`, false, "SetContactGroup bob ", `{}`},
		{"renameContact", "renameContact", `{"username":"bob","alias":"Bobby"}`, false, "RenameContact bob Bobby", `{}`},
		{"invite", "invite", `{"with":"bob","username":"carol"}`, false, "Invite bob carol", `{"conversationId":"#00000000000000000000000000000001","conversation":"#00000000000000000000000000000001"}`},
		{"invite into a conversation", "invite", `{"with":"#c1","username":"dave"}`, false, "Invite #c1 dave", `{"conversationId":"#c1","conversation":"#c1"}`},
		{"leaveConversation", "leaveConversation", `{"conversationId":"#c1"}`, false, "LeaveConversation #c1", `{}`},
		{"leaveConversation by its old key", "leaveConversation", `{"id":"#c1"}`, false, "LeaveConversation #c1", `{}`},
		{"listConversations", "listConversations", `{}`, false, "Conversations",
			`{"conversations":[{"conversationId":"#c1","id":"#c1","members":["alice","bob","carol"]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			if !tt.noData {
				fake.ContactList, fake.Messages["bob"] = contacts, messages
			}
			h := serve(t, fake)
			resp := h.call(tt.method, tt.params)
			if resp.Error != nil {
				t.Fatalf("error response: %s", resp.raw)
			}
			jsonEqual(t, "result", resp.Result, tt.wantResult)
			if got := fake.Calls(); len(got) != 1 || got[0] != tt.wantCall {
				t.Errorf("API calls = %q, want [%q]", got, tt.wantCall)
			}
		})
	}
}

// validParams holds one valid params object for each method.
var validParams = map[string]string{
	"register":          `{"server":"srv","username":"alice","password":"pw"}`,
	"login":             `{"username":"alice","password":"pw"}`,
	"logout":            `{}`,
	"account":           `{}`,
	"addContact":        `{"username":"bob"}`,
	"acceptContact":     `{"username":"bob"}`,
	"declineContact":    `{"username":"bob"}`,
	"blockContact":      `{"username":"bob"}`,
	"unblockContact":    `{"username":"bob"}`,
	"removeContact":     `{"username":"bob"}`,
	"listContacts":      `{}`,
	"setPresence":       `{"status":"away"}`,
	"setSupernode":      `{"allowed":true}`,
	"safetyNumber":      `{"username":"bob"}`,
	"listDevices":       `{}`,
	"sendFile":          `{"to":"bob","path":"/x"}`,
	"acceptFile":        `{"transferId":"t1"}`,
	"declineFile":       `{"transferId":"t1"}`,
	"pauseTransfer":     `{"transferId":"t1"}`,
	"resumeTransfer":    `{"transferId":"t1"}`,
	"cancelTransfer":    `{"transferId":"t1"}`,
	"listTransfers":     `{}`,
	"revokeDevice":      `{"peerId":"12D3KooWB","password":"pw"}`,
	"changePassword":    `{"oldPassword":"a","newPassword":"b"}`,
	"verifyContact":     `{"username":"bob","verified":true}`,
	"send":              `{"to":"bob","text":"hi"}`,
	"history":           `{"with":"bob"}`,
	"setAvatar":         `{"path":"/x.png"}`,
	"typing":            `{"to":"bob"}`,
	"nudge":             `{"to":"bob"}`,
	"markRead":          `{"conversation":"bob"}`,
	"setContactGroup":   `{"username":"bob","group":"Work"}`,
	"renameContact":     `{"username":"bob","alias":"B"}`,
	"invite":            `{"with":"bob","username":"carol"}`,
	"leaveConversation": `{"conversationId":"#c1"}`,
	"listConversations": `{}`,
	"searchHistory":     `{"text":"lunch"}`,
	"createRoom":        `{"room":"golang","topic":"Go"}`,
	"joinRoom":          `{"room":"golang"}`,
	"leaveRoom":         `{"room":"golang"}`,
	"roomSend":          `{"room":"golang","text":"hi"}`,
	"roomHistory":       `{"room":"golang"}`,
	"roomMessages":      `{"room":"golang"}`,
	"listRooms":         `{"query":"go"}`,
	"roomInfo":          `{"room":"golang"}`,
	"roomMembers":       `{"room":"golang"}`,
	"roomKick":          `{"room":"golang","username":"bob"}`,
	"roomBan":           `{"room":"golang","username":"bob","minutes":60}`,
	"roomUnban":         `{"room":"golang","username":"bob"}`,
	"roomOp":            `{"room":"golang","username":"bob","op":false}`,
	"roomVoice":         `{"room":"golang","username":"bob"}`,
	"roomInvite":        `{"room":"golang","username":"bob"}`,
	"roomSetTopic":      `{"room":"golang","topic":"Go!"}`,
	"roomSetModes":      `{"room":"golang","moderated":true,"slowSeconds":5}`,
	"deleteRoom":        `{"room":"golang"}`,
	"roomDeleteMessage": `{"room":"golang","id":"m1"}`,
	"roomReport":        `{"room":"golang","username":"bob","reason":"spam"}`,
	"call":              `{"to":"bob"}`,
	"answerCall":        `{"callId":"c1"}`,
	"declineCall":       `{"callId":"c1"}`,
	"hangUp":            `{"callId":"c1"}`,
	"muteCall":          `{"callId":"c1","muted":true}`,
	"setCallVolume":     `{"callId":"c1","volume":1}`,
	"activeCalls":       `{}`,
	"audioDevices":      `{}`,
	"microphoneLevel":   `{"ms":100}`,
}

// apiMethod is the api.API method each RPC method calls.
var apiMethod = map[string]string{
	"register": "Register", "login": "Login", "logout": "Logout", "account": "Account", "addContact": "AddContact",
	"acceptContact": "AcceptContact", "declineContact": "DeclineContact", "blockContact": "BlockContact",
	"unblockContact": "UnblockContact", "removeContact": "RemoveContact", "listContacts": "Contacts",
	"setPresence": "SetPresence", "setSupernode": "SetSupernode", "send": "Send", "history": "History", "searchHistory": "SearchHistory",
	"safetyNumber": "SafetyNumber", "verifyContact": "VerifyContact",
	"listDevices": "Devices", "revokeDevice": "RevokeDevice", "changePassword": "ChangePassword",
	"sendFile": "SendFile", "acceptFile": "AcceptFile", "declineFile": "DeclineFile", "pauseTransfer": "PauseTransfer",
	"resumeTransfer": "ResumeTransfer", "cancelTransfer": "CancelTransfer", "listTransfers": "Transfers",
	"setAvatar": "SetAvatar", "typing": "Typing", "nudge": "Nudge", "markRead": "MarkRead", "setContactGroup": "SetContactGroup",
	"renameContact": "RenameContact", "invite": "Invite", "leaveConversation": "LeaveConversation",
	"listConversations": "Conversations",
	"createRoom":        "CreateRoom", "joinRoom": "JoinRoom", "leaveRoom": "LeaveRoom", "roomSend": "RoomSend", "roomHistory": "RoomHistory",
	"roomMessages": "RoomMessages",
	"listRooms":    "ListRooms", "roomInfo": "RoomInfo", "roomMembers": "RoomMembers", "roomKick": "RoomKick",
	"roomBan": "RoomBan", "roomUnban": "RoomUnban", "roomOp": "RoomOp", "roomVoice": "RoomVoice",
	"roomInvite": "RoomInvite", "roomSetTopic": "RoomSetTopic", "roomSetModes": "RoomSetModes",
	"deleteRoom": "DeleteRoom", "roomDeleteMessage": "RoomDeleteMessage", "roomReport": "RoomReport",
	"call": "Call", "answerCall": "AnswerCall", "declineCall": "DeclineCall", "hangUp": "HangUp", "muteCall": "MuteCall",
	"setCallVolume": "SetCallVolume", "activeCalls": "ActiveCalls", "audioDevices": "AudioDevices",
	"microphoneLevel": "MicrophoneLevel",
}

func TestTablesCoverEveryMethod(t *testing.T) {
	for m := range methods {
		if validParams[m] == "" || apiMethod[m] == "" {
			t.Errorf("method %s missing from the test tables", m)
		}
	}
}

func TestAPIErrors(t *testing.T) {
	tests := []struct {
		err      error
		wantCode string
	}{
		{api.ErrLoginFailed, "login_failed"},
		{api.ErrUsernameTaken, "username_taken"},
		{api.ErrNotContact, "not_contact"},
		{api.ErrRateLimited, "rate_limited"},
		{api.ErrBadRequest, "bad_request"},
		{api.ErrNotLoggedIn, "not_logged_in"},
		{api.ErrUnreachable, "unreachable"},
		{api.ErrBlocked, "blocked"},
		{api.ErrNoSuchUser, "no_such_user"},
		{api.ErrBanned, "banned"},
		{api.ErrRoomFull, "room_full"},
		{api.ErrWrongPassword, "wrong_password"},
		{fmt.Errorf("creating: %w", api.ErrRoomExists), "room_exists"},
		{fmt.Errorf("calling bob: %w", api.ErrOffline), "offline"},
		{api.ErrBusy, "busy"},
		{fmt.Errorf("c9: %w", api.ErrNoSuchCall), "no_such_call"},
		{fmt.Errorf("login at srv: %w", api.ErrLoginFailed), "login_failed"},
		{errors.New("disk on fire"), "internal"},
		{context.DeadlineExceeded, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			fake := newFake()
			fake.Fail("Logout", tt.err)
			h := serve(t, fake)
			resp := h.call("logout", `{}`)
			if resp.Error == nil {
				t.Fatalf("no error: %s", resp.raw)
			}
			if resp.Result != nil {
				t.Errorf("error response has a result: %s", resp.raw)
			}
			e := resp.Error
			if e.Code != CodeApplication || e.Message != tt.err.Error() || e.Data == nil || e.Data.Code != tt.wantCode {
				t.Errorf("error = %s, want code %d message %q data.code %q", resp.raw, CodeApplication, tt.err, tt.wantCode)
			}
		})
	}
}

func TestEveryMethodReturnsAPIErrors(t *testing.T) {
	for m, params := range validParams {
		t.Run(m, func(t *testing.T) {
			fake := newFake()
			fake.Fail(apiMethod[m], fmt.Errorf("%s: %w", m, api.ErrNotLoggedIn))
			h := serve(t, fake)
			resp := h.call(m, params)
			if resp.Error == nil || resp.Error.Code != CodeApplication || resp.Error.Data == nil ||
				resp.Error.Data.Code != "not_logged_in" {
				t.Errorf("response = %s, want -32000 not_logged_in", resp.raw)
			}
		})
	}
}

func TestBadParams(t *testing.T) {
	tests := []struct{ name, method, params string }{
		{"register missing password", "register", `{"server":"s","username":"alice"}`},
		{"register missing server", "register", `{"username":"alice","password":"pw"}`},
		{"login missing username", "login", `{"password":"pw"}`},
		{"login offline status", "login", `{"username":"a","password":"pw","status":"offline"}`},
		{"login status number", "login", `{"username":"a","password":"pw","status":1}`},
		{"login no params", "login", ``},
		{"addContact unknown field", "addContact", `{"username":"bob","msg":"hi"}`},
		{"acceptContact array", "acceptContact", `["bob"]`},
		{"acceptContact string", "acceptContact", `"bob"`},
		{"acceptContact empty username", "acceptContact", `{"username":""}`},
		{"blockContact username null", "blockContact", `{}`},
		{"removeContact username number", "removeContact", `{"username":5}`},
		{"send empty text", "send", `{"to":"bob","text":""}`},
		{"send text number", "send", `{"to":"bob","text":5}`},
		{"send missing to", "send", `{"text":"hi"}`},
		{"history missing with", "history", `{"limit":5}`},
		{"history limit 0", "history", `{"with":"bob","limit":0}`},
		{"history limit negative", "history", `{"with":"bob","limit":-1}`},
		{"history limit too big", "history", `{"with":"bob","limit":1001}`},
		{"history limit fraction", "history", `{"with":"bob","limit":1.5}`},
		{"roomMessages missing room", "roomMessages", `{"limit":5}`},
		{"roomMessages limit 0", "roomMessages", `{"room":"golang","limit":0}`},
		{"roomMessages limit too big", "roomMessages", `{"room":"golang","limit":1001}`},
		{"roomMessages before not a string", "roomMessages", `{"room":"golang","before":9}`},
		{"setPresence unknown status", "setPresence", `{"status":"sleeping"}`},
		{"setSupernode without allowed", "setSupernode", `{}`},
		{"setSupernode allowed not bool", "setSupernode", `{"allowed":"yes"}`},
		{"setSupernode negative cap", "setSupernode", `{"uploadCap":-1}`},
		{"safetyNumber without username", "safetyNumber", `{}`},
		{"revokeDevice without peer", "revokeDevice", `{}`},
		{"revokeDevice password not a string", "revokeDevice", `{"peerId":"12D3KooWB","password":1}`},
		{"sendFile without path", "sendFile", `{"to":"bob"}`},
		{"cancelTransfer without id", "cancelTransfer", `{}`},
		{"changePassword without new", "changePassword", `{"oldPassword":"a"}`},
		{"listDevices with params", "listDevices", `{"all":true}`},
		{"verifyContact without verified", "verifyContact", `{"username":"bob"}`},
		{"verifyContact verified not bool", "verifyContact", `{"username":"bob","verified":1}`},
		{"setSupernode cap fraction", "setSupernode", `{"uploadCap":1.5}`},
		{"setPresence nick number", "setPresence", `{"nick":7}`},
		{"logout with field", "logout", `{"force":true}`},
		{"listContacts array", "listContacts", `[]`},
		{"setAvatar without path", "setAvatar", `{}`},
		{"setAvatar path number", "setAvatar", `{"path":1}`},
		{"setAvatar empty crop", "setAvatar", `{"path":"/x.png","crop":{"x":1,"y":1}}`},
		{"setAvatar negative crop", "setAvatar", `{"path":"/x.png","crop":{"x":-1,"y":0,"size":5}}`},
		{"typing without to", "typing", `{}`},
		{"nudge to number", "nudge", `{"to":3}`},
		{"markRead without conversation", "markRead", `{}`},
		{"markRead by another key", "markRead", `{"with":"bob"}`},
		{"setContactGroup without group", "setContactGroup", `{"username":"bob"}`},
		{"setContactGroup without username", "setContactGroup", `{"group":"Work"}`},
		{"renameContact unknown field", "renameContact", `{"username":"bob","alias":"B","nick":"x"}`},
		{"renameContact alias number", "renameContact", `{"username":"bob","alias":1}`},
		{"invite without username", "invite", `{"with":"bob"}`},
		{"leaveConversation without id", "leaveConversation", `{}`},
		{"leaveConversation under both keys", "leaveConversation", `{"conversationId":"#c1","id":"#c1"}`},
		{"account with params", "account", `{"all":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { refusesParams(t, tt.method, tt.params) })
	}
}

// refusesParams checks that method with params is refused as invalid
// params (bad_request) before the API is called.
func refusesParams(t *testing.T, method, params string) {
	t.Helper()
	fake := newFake()
	h := serve(t, fake)
	resp := h.call(method, params)
	if resp.Error == nil || resp.Error.Code != CodeInvalidParams || resp.Error.Data == nil ||
		resp.Error.Data.Code != "bad_request" {
		t.Errorf("response = %s, want -32602 bad_request", resp.raw)
	}
	if calls := fake.Calls(); len(calls) != 0 {
		t.Errorf("API called with bad params: %q", calls)
	}
}

func TestProtocolErrors(t *testing.T) {
	tests := []struct {
		name, line string
		wantCode   int
		wantID     string
	}{
		{"not JSON", `hello`, CodeParseError, "null"},
		{"truncated", `{"jsonrpc":"2.0","id":1,"method":"logout"`, CodeParseError, "null"},
		{"two objects", `{"jsonrpc":"2.0","id":1,"method":"logout"} {}`, CodeParseError, "null"},
		{"control character in string", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"lo\x01gout\"}", CodeParseError, "null"},
		{"empty batch", `[]`, CodeInvalidRequest, "null"},
		{"number", `42`, CodeInvalidRequest, "null"},
		{"string", `"logout"`, CodeInvalidRequest, "null"},
		{"version 1.0", `{"jsonrpc":"1.0","id":1,"method":"logout"}`, CodeInvalidRequest, "1"},
		{"version number", `{"jsonrpc":2.0,"id":1,"method":"logout"}`, CodeInvalidRequest, "1"},
		{"no version", `{"id":2,"method":"logout"}`, CodeInvalidRequest, "2"},
		{"no method", `{"jsonrpc":"2.0","id":3}`, CodeInvalidRequest, "3"},
		{"empty method", `{"jsonrpc":"2.0","id":"a","method":""}`, CodeInvalidRequest, `"a"`},
		{"method number", `{"jsonrpc":"2.0","id":4,"method":7}`, CodeInvalidRequest, "4"},
		{"id object", `{"jsonrpc":"2.0","id":{},"method":"logout"}`, CodeInvalidRequest, "null"},
		{"id bool", `{"jsonrpc":"2.0","id":true,"method":"logout"}`, CodeInvalidRequest, "null"},
		{"id array and bad method", `{"jsonrpc":"2.0","id":[1],"method":7}`, CodeInvalidRequest, "null"},
		{"unknown method", `{"jsonrpc":"2.0","id":5,"method":"nope"}`, CodeMethodNotFound, "5"},
		{"unknown method string id", `{"jsonrpc":"2.0","id":"x-1","method":"Login"}`, CodeMethodNotFound, `"x-1"`},
		{"unknown method null id", `{"jsonrpc":"2.0","id":null,"method":"nope"}`, CodeMethodNotFound, "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			h := serve(t, fake)
			h.send(tt.line)
			resp := h.response(tt.wantID)
			if resp.Error == nil || resp.Error.Code != tt.wantCode || resp.Error.Data.Code != dataCodes[tt.wantCode] {
				t.Errorf("response = %s, want code %d, data.code %q", resp.raw, tt.wantCode, dataCodes[tt.wantCode])
			}
			// The server goes on serving.
			if resp := h.call("logout", ""); resp.Error != nil {
				t.Errorf("after error: %s", resp.raw)
			}
			if calls := fake.Calls(); len(calls) != 1 {
				t.Errorf("API calls = %q, want only the final Logout", calls)
			}
		})
	}
}

func TestLineLength(t *testing.T) {
	// send pads a send request with spaces to n bytes before the line ending.
	padded := func(n int) string {
		s := `{"jsonrpc":"2.0","id":7,"method":"send","params":{"to":"bob","text":"x"}`
		return s + strings.Repeat(" ", n-len(s)-1) + "}"
	}
	tests := []struct {
		name, line string
		wantErr    bool
	}{
		{"exactly max", padded(MaxLineBytes), false},
		{"exactly max with CRLF", padded(MaxLineBytes) + "\r", false},
		{"max+1", padded(MaxLineBytes + 1), true},
		{"3 MiB", padded(3 << 20), true},
		{"3 MiB garbage", strings.Repeat("x", 3<<20), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := serve(t, newFake())
			h.send(tt.line)
			if tt.wantErr {
				resp := h.response("null")
				if resp.Error == nil || resp.Error.Code != CodeParseError {
					t.Errorf("response = %s, want parse error", resp.raw)
				}
			} else if resp := h.response("7"); resp.Error != nil {
				t.Errorf("response = %s, want a result", resp.raw)
			}
			if resp := h.call("logout", ""); resp.Error != nil {
				t.Errorf("after long line: %s", resp.raw)
			}
		})
	}
}

func TestReadLineBounded(t *testing.T) {
	const max = 100
	input := strings.Repeat("a", 10*max) + "\nshort\r\n" + strings.Repeat("b", max) + "\n" + "tail"
	br := bufio.NewReaderSize(strings.NewReader(input), 16)
	want := []struct {
		line    string
		tooLong bool
		err     error
	}{
		{"", true, nil},
		{"short", false, nil},
		{strings.Repeat("b", max), false, nil},
		{"tail", false, io.EOF},
	}
	var buf []byte
	for i, w := range want {
		l, tooLong, err := readLine(br, buf[:0], max)
		if string(l) != w.line || tooLong != w.tooLong || err != w.err {
			t.Errorf("line %d = %q, %v, %v; want %q, %v, %v", i, l, tooLong, err, w.line, w.tooLong, w.err)
		}
		if cap(l) > 4*max {
			t.Errorf("line %d: buffer grew to %d", i, cap(l))
		}
		buf = l
	}
}

func TestClientNotificationsAreNotAnswered(t *testing.T) {
	fake := newFake()
	h := serve(t, fake)
	h.send(`{"jsonrpc":"2.0","method":"nope"}`)
	h.send(`{"jsonrpc":"2.0","method":"acceptContact","params":{"username":"bob"}}`)
	h.send(`{"jsonrpc":"2.0","method":"acceptContact","params":{}}`)
	if resp := h.call("listContacts", ""); resp.Error != nil {
		t.Fatalf("listContacts: %s", resp.raw)
	}
	// Requests are processed in turn: the notification ran before listContacts.
	if calls := fake.Calls(); !slices.Equal(calls, []string{"AcceptContact bob", "Contacts"}) {
		t.Errorf("calls = %q, want AcceptContact bob, then Contacts", calls)
	}
	if len(h.notes) != 0 {
		t.Errorf("unexpected output: %v", h.notes)
	}
}

func TestNotifications(t *testing.T) {
	bob := api.Contact{Username: "bob", Relation: api.RelationAccepted,
		Presence: api.Presence{Status: api.StatusOnline, Nick: "Bob"}}
	with := func(c api.Contact, f func(*api.Contact)) *api.Contact { f(&c); return &c }
	msg := func(from, to string) *api.Message {
		return &api.Message{ID: "m1", From: from, To: to, Text: "hi", Time: testTime, State: api.StateReceived}
	}
	tests := []struct {
		name   string
		events []api.Event
		want   []note
	}{
		{"snapshot only", nil, nil},
		{"incoming message", []api.Event{{Message: msg("bob", "alice")}},
			[]note{{"message", `{"messageId":"m1","id":"m1","from":"bob","to":"alice","text":"hi","time":"2024-01-02T03:04:05.678Z","state":"received"}`}}},
		{"own message skipped", []api.Event{{Message: msg("alice", "bob")}}, nil},
		{"own message other case skipped", []api.Event{{Message: msg("Alice", "bob")}}, nil},
		{"delivered", []api.Event{{Delivered: &api.Delivery{ID: "m1", To: "bob"}}},
			[]note{{"delivered", `{"messageId":"m1","id":"m1","to":"bob"}`}}},
		{"role", []api.Event{{Role: &api.RoleEvent{Role: api.RoleSupernode, Reason: "conditions hold", Time: time.Date(2024, 1, 2, 3, 4, 5, 678e6, time.UTC)}}},
			[]note{{"role", `{"role":"supernode","reason":"conditions hold","time":"2024-01-02T03:04:05.678Z"}`}}},
		{"contact request", []api.Event{{ContactRequest: &api.ContactRequestEvent{From: "carol", Message: "hi!"}}},
			[]note{{"contactRequest", `{"from":"carol","message":"hi!"}`}}},
		{"new contact", []api.Event{{Contact: &api.Contact{Username: "carol", Relation: api.RelationPendingOut}}},
			[]note{{"contactUpdate", `{"username":"carol","relation":"pending-out","via":"","status":"offline","nick":"","subnick":"","media":"","verified":false}`}}},
		{"new contact online", []api.Event{{Contact: &api.Contact{Username: "dave", Relation: api.RelationAccepted,
			Presence: api.Presence{Status: api.StatusAway}}}},
			[]note{{"contactUpdate", `{"username":"dave","relation":"accepted","via":"","status":"away","nick":"","subnick":"","media":"","verified":false}`},
				{"presence", `{"username":"dave","relation":"accepted","via":"","status":"away","nick":"","subnick":"","media":"","verified":false}`}}},
		{"a pending contact's reach is not presence", []api.Event{
			{Contact: &api.Contact{Username: "carol", Relation: api.RelationPendingIn, Via: api.ViaMailbox}},
			{Contact: &api.Contact{Username: "carol", Relation: api.RelationPendingIn, Via: api.ViaDirect}},
		}, []note{{"contactUpdate", `{"username":"carol","relation":"pending-in","via":"mailbox","status":"offline","nick":"","subnick":"","media":"","verified":false}`}}},
		{"accepted: contactUpdate then presence, even unchanged", []api.Event{
			{Contact: &api.Contact{Username: "carol", Relation: api.RelationPendingIn, Via: api.ViaDirect}},
			{Contact: &api.Contact{Username: "carol", Relation: api.RelationAccepted, Via: api.ViaDirect}},
			{Contact: &api.Contact{Username: "carol", Relation: api.RelationAccepted, Via: api.ViaDirect, Presence: api.Presence{Status: api.StatusOnline}}},
		}, []note{
			{"contactUpdate", `{"username":"carol","relation":"pending-in","via":"direct","status":"offline","nick":"","subnick":"","media":"","verified":false}`},
			{"contactUpdate", `{"username":"carol","relation":"accepted","via":"direct","status":"offline","nick":"","subnick":"","media":"","verified":false}`},
			{"presence", `{"username":"carol","relation":"accepted","via":"direct","status":"offline","nick":"","subnick":"","media":"","verified":false}`},
			{"presence", `{"username":"carol","relation":"accepted","via":"direct","status":"online","nick":"","subnick":"","media":"","verified":false}`},
		}},
		{"a blocked contact's presence is not reported", []api.Event{
			{Contact: with(bob, func(c *api.Contact) { c.Relation = api.RelationBlocked })},
			{Contact: with(bob, func(c *api.Contact) { c.Relation = api.RelationBlocked; c.Via = api.ViaMailbox })},
		}, []note{{"contactUpdate", `{"username":"bob","relation":"blocked","via":"","status":"online","nick":"Bob","subnick":"","media":"","verified":false}`}}},
		{"relation changed", []api.Event{{Contact: with(bob, func(c *api.Contact) { c.Relation = api.RelationBlocked })}},
			[]note{{"contactUpdate", `{"username":"bob","relation":"blocked","via":"","status":"online","nick":"Bob","subnick":"","media":"","verified":false}`}}},
		{"presence changed", []api.Event{{Contact: with(bob, func(c *api.Contact) { c.Status = api.StatusAway })}},
			[]note{{"presence", `{"username":"bob","relation":"accepted","via":"","status":"away","nick":"Bob","subnick":"","media":"","verified":false}`}}},
		{"unchanged contact not repeated", []api.Event{{Contact: &bob}, {Contact: &bob}}, nil},
		{"picture fetched, group set", []api.Event{{Contact: with(bob, func(c *api.Contact) {
			c.Avatar, c.AvatarPath, c.Group, c.Alias = "ab", "/p/ab.png", "Work", "Bobby"
		})}},
			[]note{{"presence", `{"username":"bob","relation":"accepted","via":"","status":"online","nick":"Bob","subnick":"","media":"","verified":false,"avatar":"ab","avatarPath":"/p/ab.png","group":"Work","alias":"Bobby"}`}}},
		{"typing", []api.Event{{Typing: &api.TypingEvent{From: "bob"}}}, []note{{"typing", `{"from":"bob"}`}}},
		{"conversation", []api.Event{{Conversation: &api.ConversationEvent{Conversation: api.Conversation{ID: "#c1",
			Members: []string{"alice", "bob", "carol"}}, Joined: "carol", By: "alice"}}},
			[]note{{"conversation", `{"conversationId":"#c1","id":"#c1","members":["alice","bob","carol"],"joined":"carol","by":"alice"}`}}},
		{"nudge", []api.Event{{Nudge: &api.NudgeEvent{From: "bob", Time: testTime}}},
			[]note{{"nudge", `{"from":"bob","time":"2024-01-02T03:04:05.678Z"}`}}},
		{"read elsewhere", []api.Event{{Read: &api.ReadEvent{Conversation: "bob", Unread: 0}}},
			[]note{{"read", `{"conversation":"bob","unread":0}`}}},
		{"read a conversation in part", []api.Event{{Read: &api.ReadEvent{Conversation: "#c1", Unread: 2}}},
			[]note{{"read", `{"conversation":"#c1","unread":2}`}}},
		{"image offer", []api.Event{{Transfer: &api.Transfer{ID: "t1", Peer: "bob", Name: "a.png", Size: 9, State: api.TransferIncoming,
			Type: "image/png", Thumbnail: []byte{1, 2, 3}}}},
			[]note{{"fileOffer", `{"transferId":"t1","peer":"bob","from":"bob","outgoing":false,"name":"a.png","size":9,"total":9,"state":"incoming","bytes":0,"type":"image/png","thumbnail":"AQID"}`}}},
		{"presence change not duplicated", []api.Event{
			{Contact: with(bob, func(c *api.Contact) { c.Subnick = "busy day" })},
			{Contact: with(bob, func(c *api.Contact) { c.Subnick = "busy day" })},
			{Contact: with(bob, func(c *api.Contact) { c.Subnick = "busy day"; c.RequestMessage = "x" })},
			{Contact: with(bob, func(c *api.Contact) { c.Subnick = "busy day"; c.Unread = 3 })}, // news for read, not presence
			{Contact: with(bob, func(c *api.Contact) { c.Subnick = "busy day"; c.Media = "Song" })},
		}, []note{
			{"presence", `{"username":"bob","relation":"accepted","via":"","status":"online","nick":"Bob","subnick":"busy day","media":"","verified":false}`},
			{"presence", `{"username":"bob","relation":"accepted","via":"","status":"online","nick":"Bob","subnick":"busy day","media":"Song","verified":false}`},
		}},
		{"empty status is offline", []api.Event{
			{Contact: with(bob, func(c *api.Contact) { c.Status = api.StatusOffline })},
			{Contact: with(bob, func(c *api.Contact) { c.Status = "" })},
		}, []note{{"presence", `{"username":"bob","relation":"accepted","via":"","status":"offline","nick":"Bob","subnick":"","media":"","verified":false}`}}},
		{"removed", []api.Event{{ContactRemoved: "bob"}, {Contact: &bob}},
			[]note{{"contactUpdate", `{"username":"bob","relation":"removed"}`},
				{"contactUpdate", `{"username":"bob","relation":"accepted","via":"","status":"online","nick":"Bob","subnick":"","media":"","verified":false}`},
				{"presence", `{"username":"bob","relation":"accepted","via":"","status":"online","nick":"Bob","subnick":"","media":"","verified":false}`}}},
		{"signed out", []api.Event{{SignedOut: true}}, []note{{"signedOut", `{}`}}},
		{"history hand-over", []api.Event{{History: &api.HistoryEvent{Direction: api.HistoryReceiving, Device: "12D3KooW", Done: 512, Total: 5000}}},
			[]note{{"history", `{"direction":"receiving","device":"12D3KooW","done":512,"total":5000}`}}},
		{"offline messages", []api.Event{{OfflineMessages: &api.OfflineMessagesEvent{Count: 3, From: []string{"bob", "carol"}, In: []string{"bob", "#c1"}}}},
			[]note{{"offlineMessages", `{"count":3,"from":["bob","carol"],"in":["bob","#c1"]}`}}},
		{"file offer", []api.Event{{Transfer: &api.Transfer{ID: "t9", Peer: "carol", Name: "cat.jpg", Size: 42, State: api.TransferIncoming}}},
			[]note{{"fileOffer", `{"transferId":"t9","peer":"carol","from":"carol","outgoing":false,"name":"cat.jpg","size":42,"total":42,"state":"incoming","bytes":0}`}}},
		{"transfer progress", []api.Event{{Transfer: &api.Transfer{ID: "t9", Peer: "carol", Name: "cat.jpg", Size: 42, State: api.TransferActive, Bytes: 21}}},
			[]note{{"transfer", `{"transferId":"t9","peer":"carol","outgoing":false,"name":"cat.jpg","size":42,"state":"active","bytes":21,"total":42}`}}},
		{"signed out with a reason", []api.Event{{SignedOut: true, SignedOutReason: "removed", SignedOutCode: api.SignedOutRevoked}}, []note{{"signedOut", `{"reason":"removed","code":"device_revoked"}`}}},
		{"identity changed once", []api.Event{
			{Contact: with(bob, func(c *api.Contact) { c.KeyChanged = &testTime })},
			{Contact: with(bob, func(c *api.Contact) { c.KeyChanged = &testTime; c.Status = api.StatusOnline })},
		}, []note{{"identityChanged", `{"username":"bob","relation":"accepted","via":"","status":"online","nick":"Bob","subnick":"","media":"","verified":false,"keyChanged":"2024-01-02T03:04:05.678Z","time":"2024-01-02T03:04:05.678Z"}`}}},
		{"new contact's first identity silent", []api.Event{{Contact: &api.Contact{Username: "erin", Relation: api.RelationPendingIn, KeyChanged: &testTime}}},
			[]note{{"contactUpdate", `{"username":"erin","relation":"pending-in","via":"","status":"offline","nick":"","subnick":"","media":"","verified":false,"keyChanged":"2024-01-02T03:04:05.678Z"}`}}},
		{"own account event silent", []api.Event{{Account: &api.Account{Username: "alice"}}}, nil},
		{"account changed", []api.Event{
			{Account: &api.Account{Username: "alice", Presence: api.Presence{Status: api.StatusAway}}},
			{Account: &api.Account{Username: "alice", Presence: api.Presence{Status: api.StatusAway}}},
			{Role: &api.RoleEvent{Role: api.RoleSupernode, Reason: "conditions hold", Time: testTime},
				Account: &api.Account{Username: "alice", Role: api.RoleSupernode, Presence: api.Presence{Status: api.StatusAway}}},
		}, []note{
			{"account", `{"username":"alice","peerId":"","server":"","role":"","supernodeAllowed":false,"supernodeUploadCap":0,"status":"away","nick":"","subnick":"","media":""}`},
			{"account", `{"username":"alice","peerId":"","server":"","role":"supernode","supernodeAllowed":false,"supernodeUploadCap":0,"status":"away","nick":"","subnick":"","media":""}`},
			{"role", `{"role":"supernode","reason":"conditions hold","time":"2024-01-02T03:04:05.678Z"}`},
		}},
		{"signed in again", []api.Event{{SignedOut: true}, {Account: &api.Account{Username: "alice"}}}, []note{
			{"signedOut", `{}`},
			{"account", `{"username":"alice","peerId":"","server":"","role":"","supernodeAllowed":false,"supernodeUploadCap":0,"status":"","nick":"","subnick":"","media":""}`},
		}},
		{"account switch", []api.Event{
			{Account: &api.Account{Username: "zed"}},
			{Message: msg("zed", "bob")},
			{Message: msg("alice", "zed")},
			{Contact: &bob}, // a new list: bob is new to zed
		}, []note{
			{"account", `{"username":"zed","peerId":"","server":"","role":"","supernodeAllowed":false,"supernodeUploadCap":0,"status":"","nick":"","subnick":"","media":""}`},
			{"message", `{"messageId":"m1","id":"m1","from":"alice","to":"zed","text":"hi","time":"2024-01-02T03:04:05.678Z","state":"received"}`},
			{"contactUpdate", `{"username":"bob","relation":"accepted","via":"","status":"online","nick":"Bob","subnick":"","media":"","verified":false}`},
			{"presence", `{"username":"bob","relation":"accepted","via":"","status":"online","nick":"Bob","subnick":"","media":"","verified":false}`},
		}},
		{"resnapshot silent", []api.Event{{Snapshot: &api.Snapshot{Contacts: []api.Contact{bob}}}, {Contact: &bob}}, nil},
		{"several changes in one event", []api.Event{{
			ContactRemoved: "bob",
			Message:        msg("carol", "alice"),
			SignedOut:      true,
		}}, []note{
			{"contactUpdate", `{"username":"bob","relation":"removed"}`},
			{"message", `{"messageId":"m1","id":"m1","from":"carol","to":"alice","text":"hi","time":"2024-01-02T03:04:05.678Z","state":"received"}`},
			{"signedOut", `{}`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			fake.Snapshot = &api.Snapshot{Account: &api.Account{Username: "alice"}, Contacts: []api.Contact{bob}}
			sameNotes(t, notifications(t, fake, tt.events), tt.want)
		})
	}
}

// note is a notification the daemon wrote: its method and params.
type note struct{ method, params string }

// notifications has a daemon serving fake write what events notify, and
// returns it.
func notifications(t *testing.T, fake *apitest.Fake, events []api.Event) []note {
	t.Helper()
	h := serve(t, fake)
	for _, ev := range events {
		fake.Events <- ev
	}
	fake.Events <- api.Event{Delivered: &api.Delivery{ID: "sentinel"}}
	var got []note
	for {
		l := h.notification()
		if l.Method == "delivered" && strings.Contains(string(l.Params), "sentinel") {
			return got
		}
		got = append(got, note{l.Method, string(l.Params)})
	}
}

// sameNotes fails t unless got are want, params compared as JSON.
func sameNotes(t *testing.T, got, want []note) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("notifications = %q, want %q", got, want)
	}
	for i := range got {
		if got[i].method != want[i].method {
			t.Errorf("notification %d = %q, want %q", i, got[i], want[i])
			continue
		}
		jsonEqual(t, want[i].method, json.RawMessage(got[i].params), want[i].params)
	}
}

func TestConcurrentRequests(t *testing.T) {
	const n = 200
	fake := newFake()
	h := serve(t, fake)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req := fmt.Sprintf(`{"jsonrpc":"2.0","id":"r%d","method":"send","params":{"to":"user%d","text":"%s"}}`+"\n",
				i, i, strings.Repeat("z", 1+i*50))
			if _, err := io.WriteString(h.in, req); err != nil {
				t.Errorf("write: %v", err)
			}
		})
	}
	// Events interleave with responses.
	go func() {
		for i := range 50 {
			fake.Events <- api.Event{Delivered: &api.Delivery{ID: fmt.Sprint(i), To: "bob"}}
		}
	}()
	seen := map[string]bool{}
	notes := 0
	for len(seen) < n || notes < 50 {
		l := h.next()
		if l.Method != "" {
			notes++
			continue
		}
		var id string
		if err := json.Unmarshal(l.ID, &id); err != nil || seen[id] {
			t.Fatalf("bad or repeated id in %s", l.raw)
		}
		seen[id] = true
		jsonEqual(t, "result of "+id, l.Result, fmt.Sprintf(`{"messageId":"m-user%[1]s","id":"m-user%[1]s"}`, strings.TrimPrefix(id, "r")))
	}
	wg.Wait()
}

// TestEOFShutdown checks that Serve answers in-flight requests after EOF,
// then returns nil, leaving no goroutine behind (synctest fails otherwise).
func TestEOFShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		fake.LoginGate = make(chan struct{})
		inR, inW := io.Pipe()
		var out syncBuffer
		done := make(chan error, 1)
		go func() { done <- NewServer(fake, nil).Serve(context.Background(), inR, &out) }()
		io.WriteString(inW, `{"jsonrpc":"2.0","id":1,"method":"login","params":{"username":"alice","password":"pw"}}`+"\n")
		inW.Close()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Serve returned %v before the in-flight login finished", err)
		default:
		}
		close(fake.LoginGate)
		if err := <-done; err != nil {
			t.Fatalf("Serve = %v, want nil", err)
		}
		if got := out.String(); !strings.Contains(got, `"id":1,"result":{"username":"alice"`) {
			t.Errorf("output = %q, want the login response", got)
		}
	})
}

func TestContextCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		fake.LoginGate = make(chan struct{})
		inR, inW := io.Pipe()
		var out syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- NewServer(fake, nil).Serve(ctx, inR, &out) }()
		io.WriteString(inW, `{"jsonrpc":"2.0","id":1,"method":"login","params":{"username":"alice","password":"pw"}}`+"\n")
		synctest.Wait()
		cancel()
		inW.Close() // io.Pipe has no read deadline: the pending read ends here
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve = %v, want context.Canceled", err)
		}
		if got := out.String(); !strings.Contains(got, `"id":1,"error"`) {
			t.Errorf("output = %q, want an error for the cancelled login", got)
		}
	})
}

// TestContextCancelInterruptsRead checks that a file's pending read is
// interrupted by cancellation without closing it.
func TestContextCancelInterruptsRead(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(newFake(), nil).Serve(ctx, r, io.Discard) }()
	io.WriteString(w, `{"jsonrpc":"2.0","id":1,"method":"logout"}`+"\n")
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Serve = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	// The deadline is cleared again: the file is still readable.
	io.WriteString(w, "x\n")
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.Read(make([]byte, 8)); err != nil {
		t.Errorf("read after Serve: %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := strings.NewReader(strings.Repeat(`{"jsonrpc":"2.0","id":1,"method":"logout"}`+"\n", 10))
		err := NewServer(newFake(), nil).Serve(context.Background(), in, failWriter{})
		if err == nil || !strings.Contains(err.Error(), "broken pipe") {
			t.Errorf("Serve = %v, want the write error", err)
		}
	})
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func FuzzServe(f *testing.F) {
	for m, p := range validParams {
		f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"` + m + `","params":` + p + "}\n"))
	}
	for _, s := range []string{
		"", "\n", "{}", "[]", "null", `{"jsonrpc":"2.0","id":{},"method":"x"}`,
		`{"jsonrpc":"2.0","id":1,"method":"history","params":{"with":"b","limit":-9223372036854775808}}`,
		`{"jsonrpc":"2.0","id":1,"method":"setPresence","params":{"status":null,"nick":null}}`,
		`{"jsonrpc":"2.0","method":"send","params":{"to":"b","text":"x"}}` + "\r\n" + `{"jsonrpc":"2.0","id":"2","method":"nope"}`,
		"\xff\xfe{\n\x00\n",
		`[1,2,3]`, `[{"jsonrpc":"2.0","id":1,"method":"logout"},{"jsonrpc":"2.0","method":"nudge","params":{"to":"b"}},{"foo":1}]`,
		`{"jsonrpc":"2.0","id":"u2` + "\xff" + `","method":"listContacts"}`, `{"jsonrpc":"2.0","id":1,"method":"send","params":{"to":"b","text":"\ud800"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fake := newFake()
		fake.ContactList = []api.Contact{{Username: "bob", Relation: api.RelationAccepted}}
		fake.Messages["b"] = []api.Message{{ID: "m1", From: "bob", To: "alice", Text: "hi", Time: testTime}}
		var out syncBuffer
		if err := NewServer(fake, nil).Serve(context.Background(), bytes.NewReader(data), &out); err != nil {
			t.Fatalf("Serve: %v", err)
		}
		for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			if l == "" {
				continue
			}
			if _, err := parseLine([]byte(l)); err != nil {
				t.Fatalf("bad output line: %v", err)
			}
		}
	})
}

// TestStreams: a client opens a stream, writes to it in base64 and closes
// it; an incoming stream is announced, its bytes follow as streamData in
// order, then streamEnd.
func TestStreams(t *testing.T) {
	fake := newFake()
	big := strings.Repeat("0123456789", 12<<10) // more than one streamData
	fake.Incoming["in1"] = big
	h := serve(t, fake)
	resp := h.call("openStream", `{"to":"bob","label":"mic"}`)
	if resp.Error != nil || !strings.Contains(string(resp.raw), `"streamId":"s1"`) {
		t.Fatalf("openStream: %s", resp.raw)
	}
	for _, part := range []string{"hello ", "world"} {
		if resp := h.call("writeStream", `{"streamId":"s1","data":"`+base64.StdEncoding.EncodeToString([]byte(part))+`"}`); resp.Error != nil {
			t.Fatalf("writeStream: %s", resp.raw)
		}
	}
	if resp := h.call("writeStream", `{"streamId":"s1","data":"not base64!"}`); resp.Error == nil || resp.Error.Code != CodeInvalidParams {
		t.Fatalf("writeStream with bad data: %s", resp.raw)
	}
	if resp := h.call("writeStream", `{"streamId":"nope","data":""}`); resp.Error == nil {
		t.Fatalf("writeStream to an unknown stream: %s", resp.raw)
	}
	if resp := h.call("closeStream", `{"streamId":"s1"}`); resp.Error != nil || !slices.Contains(fake.Calls(), "CloseStream") {
		t.Fatalf("closeStream: %s %v", resp.raw, fake.Calls())
	}
	got := fake.Streamed()
	if got != "hello world" {
		t.Fatalf("the stream got %q", got)
	}

	fake.Events <- api.Event{StreamIncoming: &api.StreamEvent{ID: "in1", From: "bob", Label: "screen"}}
	if n := h.notification(); n.Method != "incomingStream" || string(n.Params) != `{"streamId":"in1","from":"bob","label":"screen"}` {
		t.Fatalf("first notification %s %s", n.Method, n.Params)
	}
	var read strings.Builder
	for {
		n := h.notification()
		if n.Method == "streamEnd" {
			if string(n.Params) != `{"streamId":"in1"}` {
				t.Fatalf("streamEnd %s", n.Params)
			}
			break
		}
		var p struct{ StreamID, Data string }
		if err := json.Unmarshal(n.Params, &p); err != nil || n.Method != "streamData" || p.StreamID != "in1" {
			t.Fatalf("notification %s %s", n.Method, n.Params)
		}
		b, err := base64.StdEncoding.DecodeString(p.Data)
		if err != nil {
			t.Fatal(err)
		}
		read.Write(b)
	}
	if read.String() != big {
		t.Fatalf("read %d bytes of %d", read.Len(), len(big))
	}
}
