// A WebSocket client built on gorilla/websocket (Debian's
// golang-github-gorilla-websocket-dev), driven by tests/interop_test.ts.
// Built in GOPATH mode: GO111MODULE=off GOPATH=<dir>:/usr/share/gocode.
//
// Usage: wshub-interop MODE URL [PROTOCOLS]
//
// PROTOCOLS is JSON: an array of subprotocols to offer through the library
// (which joins them with ", "), or a string sent as the raw
// Sec-WebSocket-Protocol header (any spacing). MODE:
//
//	handshake  connect, report, close with 1000
//	echo       send every message back as it came until the text "bye", then close with 1000
//	drain      only read, until the server closes
//	framed     speak wshub.v1 (see framed.go)
//
// Writes one JSON object per line on stdout, as the Python clients do, and
// exits 0 when the run went as the mode says.
package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/websocket"
)

func emit(event map[string]interface{}) {
	line, _ := json.Marshal(event)
	fmt.Println(string(line))
}

func fail(code int, err error) {
	emit(map[string]interface{}{"event": "error", "message": err.Error()})
	os.Exit(code)
}

// closeInfo reports how a connection ended, from the error ReadMessage returned.
func closeInfo(err error) (int, string) {
	var closeErr *websocket.CloseError
	if errors.As(err, &closeErr) {
		return closeErr.Code, closeErr.Text
	}
	return 1006, err.Error()
}

func main() {
	if len(os.Args) < 3 {
		fail(2, errors.New("usage: wshub-interop MODE URL [PROTOCOLS]"))
	}
	mode, url := os.Args[1], os.Args[2]
	time.AfterFunc(30*time.Second, func() { fail(4, errors.New("gave up after 30 s")) })
	if mode == "framed" {
		os.Exit(runFramed(url))
	}
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	header := http.Header{}
	if len(os.Args) > 3 {
		var list []string
		var raw string
		if err := json.Unmarshal([]byte(os.Args[3]), &list); err == nil {
			dialer.Subprotocols = list
		} else if err := json.Unmarshal([]byte(os.Args[3]), &raw); err == nil {
			header["Sec-WebSocket-Protocol"] = []string{raw}
		} else {
			fail(2, fmt.Errorf("PROTOCOLS must be a JSON array or string: %v", err))
		}
	}
	conn, response, err := dialer.Dial(url, header)
	if err != nil {
		fail(2, err)
	}
	defer conn.Close()
	emit(map[string]interface{}{
		"event":    "open",
		"protocol": conn.Subprotocol(),
		"header":   response.Header.Get("Sec-WebSocket-Protocol"),
	})
	if mode == "handshake" {
		closeFrame := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		if err := conn.WriteMessage(websocket.CloseMessage, closeFrame); err != nil {
			fail(1, err)
		}
	}
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			code, reason := closeInfo(err)
			emit(map[string]interface{}{"event": "close", "code": code, "reason": reason})
			if mode == "drain" || code == websocket.CloseNormalClosure {
				os.Exit(0)
			}
			os.Exit(1)
		}
		typ := "text"
		if kind == websocket.BinaryMessage {
			typ = "binary"
		}
		emit(map[string]interface{}{"event": "message", "type": typ, "hex": hex.EncodeToString(data)})
		if mode != "echo" {
			continue
		}
		if kind == websocket.TextMessage && string(data) == "bye" {
			closeFrame := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			if err := conn.WriteMessage(websocket.CloseMessage, closeFrame); err != nil {
				fail(1, err)
			}
			continue // read until the server's close frame answers ours
		}
		if err := conn.WriteMessage(kind, data); err != nil {
			fail(1, err)
		}
	}
}
