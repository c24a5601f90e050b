// Package docs holds keypost's documentation. Its test keeps
// docs/protocol.md true to the code: the worked signing example is
// generated from the shared test vectors, and every error code, close code
// and event the code defines must be documented.
package docs

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated parts of protocol.md")

const (
	beginMark = "<!-- BEGIN signing-example"
	endMark   = "<!-- END signing-example -->"
)

type vector struct {
	PublicKey string `json:"public_key"`
	Request   struct {
		Method, Path, Session, Body string
		Nonce                       uint64
		Created                     int64
	} `json:"request"`
	Headers []struct{ Name, Value string } `json:"headers"`
	Base    string                         `json:"signature_base"`
	SigHex  string                         `json:"signature_hex"`
}

// example renders the worked example from the vectors file.
func example(t *testing.T) string {
	b, err := os.ReadFile("../testdata/vectors/signing.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if _, err := hex.DecodeString(v.SigHex); err != nil || v.Base == "" {
		t.Fatalf("vector file incomplete: %v", err)
	}
	var w strings.Builder
	fmt.Fprintf(&w, "Public key (the user's address): `%s`\n\n", v.PublicKey)
	fmt.Fprintf(&w, "Request (nonce %d, created %d):\n\n```http\n", v.Request.Nonce, v.Request.Created)
	fmt.Fprintf(&w, "%s %s HTTP/1.1\nContent-Type: application/json\n", v.Request.Method, v.Request.Path)
	for _, h := range v.Headers {
		fmt.Fprintf(&w, "%s: %s\n", h.Name, h.Value)
	}
	fmt.Fprintf(&w, "\n%s\n```\n\nSignature base:\n\n```\n%s\n```\n\n", v.Request.Body, v.Base)
	fmt.Fprintf(&w, "Signature (hex): `%s`\n", v.SigHex)
	return w.String()
}

func TestSigningExampleIsGenerated(t *testing.T) {
	doc, err := os.ReadFile("protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(doc, []byte(beginMark))
	j := bytes.Index(doc, []byte(endMark))
	if i < 0 || j < i {
		t.Fatal("protocol.md has no signing-example block")
	}
	start := i + bytes.IndexByte(doc[i:], '\n') + 1
	want := example(t)
	if got := string(doc[start:j]); got != want {
		if !*update {
			t.Fatalf("the worked example in protocol.md is stale; run go test ./docs -update\n--- want\n%s", want)
		}
		out := append(append(append([]byte{}, doc[:start]...), want...), doc[j:]...)
		if err := os.WriteFile("protocol.md", out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// constants returns the string constants of the given type in a file.
func constants(t *testing.T, file, typ string) []string {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			id, _ := vs.Type.(*ast.Ident)
			if (typ != "" && (id == nil || id.Name != typ)) || len(vs.Values) != 1 {
				continue
			}
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			v, _ := strconv.Unquote(lit.Value)
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s constants in %s", typ, file)
	}
	return out
}

// Every code and event the code defines is documented.
func TestEveryCodeDocumented(t *testing.T) {
	doc, err := os.ReadFile("protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	names = append(names, constants(t, "../protocol/errors.go", "ErrorCode")...)
	names = append(names, constants(t, "../protocol/errors.go", "CloseCode")...)
	for _, c := range constants(t, "../protocol/wire.go", "") {
		if !strings.HasPrefix(c, "/") { // events and statuses; paths below
			names = append(names, c)
		}
	}
	for _, n := range names {
		if !bytes.Contains(doc, []byte("`"+n+"`")) && !bytes.Contains(doc, []byte(`"`+n+`"`)) {
			t.Errorf("protocol.md does not mention %q", n)
		}
	}
	for _, p := range constants(t, "../protocol/wire.go", "") {
		if strings.HasPrefix(p, "/") && !bytes.Contains(doc, []byte(p)) {
			t.Errorf("protocol.md does not mention the endpoint %s", p)
		}
	}
}
