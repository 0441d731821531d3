package mailserver

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode non-UTF-8 charsets
	"github.com/emersion/go-message/mail"
	"golang.org/x/net/html"

	"github.com/deskwoot/deskwoot/desk"
)

// maxPartBytes bounds how much of one text part is read.
const maxPartBytes = 4 << 20

// Parse reads a MIME mail into what desk records: sender, subject, the
// threading ids and the text (text/plain preferred, else HTML reduced to
// text). Attachments are skipped.
func Parse(r io.Reader) (desk.IncomingEmail, error) {
	var in desk.IncomingEmail
	mr, err := mail.CreateReader(r)
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return in, err
	}
	if mr == nil {
		// go-message returns no reader at all for some unknown
		// top-level encodings (found by FuzzParse).
		return in, fmt.Errorf("unreadable mail: %w", err)
	}
	defer mr.Close()
	h := mr.Header
	if from, err := h.AddressList("From"); err == nil && len(from) > 0 {
		in.From, in.FromName = from[0].Address, from[0].Name
	}
	in.Subject, _ = h.Subject()
	in.MessageID, _ = h.MessageID()
	in.InReplyTo, _ = h.MsgIDList("In-Reply-To")
	in.References, _ = h.MsgIDList("References")

	var plain, htmlText string
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if message.IsUnknownCharset(err) || message.IsUnknownEncoding(err) {
				continue
			}
			return in, err
		}
		ih, ok := p.Header.(*mail.InlineHeader)
		if !ok {
			continue // an attachment
		}
		ct, _, _ := ih.ContentType()
		body, err := io.ReadAll(io.LimitReader(p.Body, maxPartBytes))
		if err != nil {
			continue
		}
		switch {
		case ct == "text/plain" || ct == "":
			if plain == "" {
				plain = string(body)
			}
		case ct == "text/html":
			if htmlText == "" {
				htmlText = HTMLToText(string(body))
			}
		}
	}
	in.Text = plain
	if strings.TrimSpace(in.Text) == "" {
		in.Text = htmlText
	}
	in.Text = strings.ReplaceAll(in.Text, "\r\n", "\n")
	return in, nil
}

// HTMLToText reduces HTML to readable text: scripts and styles dropped,
// block elements and <br> as line breaks, runs of blank lines collapsed.
func HTMLToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return tidy(b.String())
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "head", "title":
				skip++
			case "br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "hr":
				b.WriteByte('\n')
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "head", "title":
				if skip > 0 {
					skip--
				}
			case "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table":
				b.WriteByte('\n')
			}
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text()) // entities are already decoded
			}
		}
	}
}

// tidy trims each line, collapses inner whitespace and keeps at most one
// blank line in a row.
func tidy(s string) string {
	var out []string
	blank := false
	for _, line := range strings.Split(s, "\n") {
		line = strings.Join(strings.Fields(line), " ")
		if line == "" {
			if !blank && len(out) > 0 {
				out = append(out, "")
			}
			blank = true
			continue
		}
		blank = false
		out = append(out, line)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
