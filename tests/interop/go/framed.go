// A wshub.v1 client in Go, written from docs/protocol.md alone: it offers
// wshub.v1, reads the hello, answers every ping, and sends every application
// message it receives back to the server (text as an `m` frame, binary behind
// the 0x6d byte) until the text "bye", then closes with 1000. Anything that
// breaks the protocol closes with 4002.

package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"

	"github.com/gorilla/websocket"
)

const subprotocol = "wshub.v1"
const binaryTag = 0x6d // "m"

// splitBatch splits the body of a `b` frame, `<length>:<text>` repeated, where
// each length counts UTF-16 code units: the body is converted to UTF-16 once,
// and lengths become indexes.
func splitBatch(body string) ([]string, error) {
	units := utf16.Encode([]rune(body))
	var messages []string
	for i := 0; i < len(units); {
		start := i
		for i < len(units) && units[i] >= '0' && units[i] <= '9' && i-start < 16 {
			i++
		}
		if i == start || i >= len(units) || units[i] != ':' {
			return nil, errors.New("malformed b frame: expected <length>:")
		}
		length, _ := strconv.Atoi(string(utf16.Decode(units[start:i])))
		i++ // the colon
		if i+length > len(units) {
			return nil, errors.New("malformed b frame: a length runs past the frame")
		}
		messages = append(messages, string(utf16.Decode(units[i:i+length])))
		i += length
	}
	return messages, nil
}

// utf16Length is a string's length in UTF-16 code units, as the protocol counts.
func utf16Length(s string) int {
	return len(utf16.Encode([]rune(s)))
}

func runFramed(url string) int {
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Subprotocols: []string{subprotocol}}
	conn, _, err := dialer.Dial(url, nil)
	if err != nil {
		fail(2, err)
	}
	defer conn.Close()
	emit(map[string]interface{}{"event": "open", "protocol": conn.Subprotocol()})
	protocolError := func(problem string) int {
		emit(map[string]interface{}{"event": "error", "message": problem})
		closeFrame := websocket.FormatCloseMessage(4002, "protocol error")
		conn.WriteMessage(websocket.CloseMessage, closeFrame)
		return 3
	}
	if conn.Subprotocol() != subprotocol {
		return protocolError(fmt.Sprintf("the server chose %q, not %s", conn.Subprotocol(), subprotocol))
	}
	helloSeen := false
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			code, reason := closeInfo(err)
			emit(map[string]interface{}{"event": "close", "code": code, "reason": reason})
			if code == websocket.CloseNormalClosure {
				return 0
			}
			return 1
		}
		var texts []string
		var binary []byte
		if kind == websocket.BinaryMessage {
			if len(data) == 0 || data[0] != binaryTag {
				return protocolError("binary frame without the 0x6d tag")
			}
			binary = data[1:]
		} else {
			if len(data) == 0 {
				return protocolError("empty text frame")
			}
			text := string(data)
			tag, body := text[:1], text[1:]
			if !helloSeen && tag != "h" {
				return protocolError("expected the hello first, got tag " + tag)
			}
			switch tag {
			case "h":
				if helloSeen {
					return protocolError("a second hello")
				}
				helloSeen = true
				hello := map[string]interface{}{}
				if err := json.Unmarshal([]byte(body), &hello); err != nil {
					return protocolError("malformed hello: " + err.Error())
				}
				hello["event"] = "hello"
				emit(hello)
				continue
			case "p", "P":
				if n := utf16Length(body); n < 1 || n > 32 {
					return protocolError("a ping token must be 1-32 UTF-16 units")
				}
				if tag == "p" {
					if err := conn.WriteMessage(websocket.TextMessage, []byte("P"+body)); err != nil {
						fail(1, err)
					}
					emit(map[string]interface{}{"event": "ping", "token": body})
				}
				continue
			case "m":
				texts = []string{body}
			case "b":
				if texts, err = splitBatch(body); err != nil {
					return protocolError(err.Error())
				}
			default:
				return protocolError("unknown tag " + tag)
			}
			emit(map[string]interface{}{"event": "frame", "tag": tag, "count": len(texts)})
		}
		if binary != nil {
			emit(map[string]interface{}{"event": "frame", "tag": "binary", "count": 1})
			emit(map[string]interface{}{"event": "message", "type": "binary", "hex": hex.EncodeToString(binary)})
			if err := conn.WriteMessage(websocket.BinaryMessage, append([]byte{binaryTag}, binary...)); err != nil {
				fail(1, err)
			}
			continue
		}
		for _, text := range texts {
			emit(map[string]interface{}{"event": "message", "type": "text", "hex": hex.EncodeToString([]byte(text))})
			if text == "bye" {
				closeFrame := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
				if err := conn.WriteMessage(websocket.CloseMessage, closeFrame); err != nil {
					fail(1, err)
				}
				break
			}
			if err := conn.WriteMessage(websocket.TextMessage, []byte("m"+text)); err != nil {
				fail(1, err)
			}
		}
	}
}
