package sse

import (
	"bytes"
	"strconv"
)

// The encoder appends to a caller-owned buffer so that the relay can reuse
// one buffer per connection and write each event with a single Write: it
// never allocates beyond growing dst.

// AppendEvent appends one complete event to dst and returns the extended
// buffer:
//
//	event: <event>
//	data: <data>
//	id: <id>
//	<blank line>
//
// event is a fixed ASCII word chosen by the caller; it must not contain line
// breaks. Because a stray \r or \n would end the field early and let the rest
// be read as another field, any \r and \n are removed rather than written. If
// event is empty the event line is omitted, which a decoder reads as type
// "message".
//
// data is normally one line of JSON. If it contains line breaks (\n, \r or
// \r\n) it is written as several data lines, which a decoder joins with "\n",
// so the output is always a single valid event.
func AppendEvent(dst []byte, event string, id uint64, data []byte) []byte {
	if event != "" {
		dst = append(dst, "event: "...)
		dst = appendStripped(dst, event)
		dst = append(dst, '\n')
	}
	if findLineEnd(data) < 0 { // the usual case: one line of JSON
		dst = append(dst, "data: "...)
		dst = append(dst, data...)
		dst = append(dst, '\n')
	} else {
		dst = appendLines(dst, "data: ", data)
	}
	dst = append(dst, "id: "...)
	dst = strconv.AppendUint(dst, id, 10)
	return append(dst, "\n\n"...)
}

// AppendRetry appends a block that sets the client's reconnection delay to
// ms milliseconds: "retry: <ms>\n\n". The wire format allows only digits, so
// a negative ms is written as 0.
func AppendRetry(dst []byte, ms int64) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, max(ms, 0), 10)
	return append(dst, "\n\n"...)
}

// AppendComment appends a comment block, ": <text>\n\n", which clients
// ignore; the relay uses ": keep-alive" to keep proxies from timing out an
// idle stream. Line breaks in text start a new comment line, so the text can
// never leak into a field.
func AppendComment(dst []byte, text string) []byte {
	return append(appendLines(dst, ": ", text), '\n')
}

// appendLines appends s as one or more lines, each starting with prefix and
// ending with \n, splitting s at \r\n, \r and \n (the decoder's line ends).
func appendLines[T string | []byte](dst []byte, prefix string, s T) []byte {
	for {
		i := lineEnd(s)
		dst = append(dst, prefix...)
		if i < 0 {
			dst = append(dst, s...)
			return append(dst, '\n')
		}
		dst = append(dst, s[:i]...)
		dst = append(dst, '\n')
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
}

// appendStripped appends s without any \r or \n.
func appendStripped(dst []byte, s string) []byte {
	if lineEnd(s) < 0 {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\r' && c != '\n' {
			dst = append(dst, c)
		}
	}
	return dst
}

// lineEnd returns the index of the first \r or \n in s, or -1.
func lineEnd[T string | []byte](s T) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\n' || c == '\r' {
			return i
		}
	}
	return -1
}

// findLineEnd is lineEnd using bytes.IndexByte, which is vectorised: it
// scans every byte of every event, in the encoder and the decoder.
func findLineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i >= 0 {
		b = b[:i]
	}
	if j := bytes.IndexByte(b, '\r'); j >= 0 {
		return j
	}
	return i
}
