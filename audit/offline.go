package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
)

// ExportReport is what an offline check of a JSON-lines export found.
type ExportReport struct {
	AccountID int64 `json:"account_id"`
	Rows      int   `json:"rows"`
	// Proven rows have links that run unbroken to a checkpoint signed by
	// the key: neither they nor their order changed since it was signed.
	Proven int `json:"proven"`
	// ChainedNotSigned rows have links that match them but reach no signed
	// checkpoint in the file (sealed after the last one, or cut off from it
	// by a filtered export's gaps).
	ChainedNotSigned int  `json:"chained_not_signed"`
	Unsealed         int  `json:"unsealed"`
	Checkpoints      int  `json:"checkpoints"`
	OK               bool `json:"ok"`
	// Line is the first line found bad (1 is the header), and AuditID its
	// audit row when it is a row's.
	Line    int    `json:"bad_line,omitempty"`
	AuditID *int64 `json:"bad_audit_id,omitempty"`
	Problem string `json:"problem,omitempty"`
}

func (r *ExportReport) bad(line int, id *int64, format string, args ...any) {
	r.Line, r.AuditID, r.Problem = line, id, fmt.Sprintf(format, args...)
}

// signedLink is what VerifyExport keeps of a checkpoint line.
type signedLink struct {
	line int
	hash []byte
}

// exportedLink is what VerifyExport keeps of a row line.
type exportedLink struct {
	line      int
	id        int64
	hash, prv []byte
}

// VerifyExport checks a JSON-lines export offline, trusting only pub: each
// row against its own chain link (the row's fields and explanation
// recomputed into the hash), each link against the one before it, each
// checkpoint's signature by pub and its hash against the link it names, and
// in an unfiltered export that no link is missing. It names the first bad
// line. The error is for a file that cannot be read; what is wrong with
// its content is in the report.
func VerifyExport(r io.Reader, pub ed25519.PublicKey) (ExportReport, error) {
	var rep ExportReport
	br := bufio.NewReaderSize(r, 1<<16)
	var hdr ExportHeader
	links := map[int64]exportedLink{}
	signed := map[int64]signedLink{} // by link seq
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return rep, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if errors.Is(err, io.EOF) {
				break
			}
			continue
		}
		if done := rep.readLine(n, line, pub, &hdr, links, signed); done {
			return rep, nil
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if hdr.Record == "" {
		rep.bad(1, nil, "the file is empty, not a deskwoot audit export")
		return rep, nil
	}
	rep.checkLinks(hdr, links, signed)
	return rep, nil
}

// readLine checks one line and records it; done is true at the first bad
// line.
func (rep *ExportReport) readLine(n int, line []byte, pub ed25519.PublicKey, hdr *ExportHeader, links map[int64]exportedLink, signed map[int64]signedLink) (done bool) {
	var kind struct {
		Record string `json:"record"`
	}
	if err := json.Unmarshal(line, &kind); err != nil {
		rep.bad(n, nil, "line %d is not a JSON object: %v", n, err)
		return true
	}
	if n == 1 {
		if kind.Record != "export" || json.Unmarshal(line, hdr) != nil || hdr.Format != ExportFormat {
			rep.bad(1, nil, "line 1 is not the header of a deskwoot audit export in format %s (export again from GET /api/v1/audit/export?format=jsonl)", ExportFormat)
			return true
		}
		rep.AccountID = hdr.AccountID
		if hdr.PublicKey != nil && !bytes.Equal(hdr.PublicKey, pub) {
			rep.bad(1, nil, "the export names public key %s, not the key given: its checkpoints were signed by another server or key", EncodePublicKey(hdr.PublicKey))
			return true
		}
		return false
	}
	switch kind.Record {
	case "row":
		var x ExportRow
		if err := json.Unmarshal(line, &x); err != nil {
			rep.bad(n, nil, "line %d is not a row of an audit export: %v", n, err)
			return true
		}
		rep.Rows++
		if x.Chain == nil {
			rep.Unsealed++
			return false
		}
		id := x.ID
		if x.Chain.Version != chainV1 && x.Chain.Version != chainV2 {
			rep.bad(n, &id, "line %d (audit row %d) has chain version %d; this deskwoot knows 1 and 2", n, id, x.Chain.Version)
			return true
		}
		d := Decision{Row: x.Row, Explanation: x.Explanation}
		if !bytes.Equal(link(x.Chain.PrevHash, d.canonical(x.Chain.Version, hdr.AccountID)), x.Chain.Hash) {
			rep.bad(n, &id, "line %d (audit row %d) does not match its chain link %d: the row was edited", n, id, x.Chain.Seq)
			return true
		}
		if other, ok := links[x.Chain.Seq]; ok {
			rep.bad(n, &id, "line %d (audit row %d) claims chain link %d, as line %d does", n, id, x.Chain.Seq, other.line)
			return true
		}
		links[x.Chain.Seq] = exportedLink{line: n, id: id, hash: x.Chain.Hash, prv: x.Chain.PrevHash}
	case "checkpoint":
		var c ExportCheckpoint
		if err := json.Unmarshal(line, &c); err != nil {
			rep.bad(n, nil, "line %d is not a checkpoint of an audit export: %v", n, err)
			return true
		}
		rep.Checkpoints++
		switch {
		case c.AccountID != hdr.AccountID:
			rep.bad(n, nil, "line %d is a checkpoint of account %d in an export of account %d", n, c.AccountID, hdr.AccountID)
		case !bytes.Equal(c.PublicKey, pub):
			rep.bad(n, nil, "line %d: the checkpoint at chain link %d is signed by another key (%s), not the key given", n, c.Seq, EncodePublicKey(c.PublicKey))
		case !c.SignedBy(pub):
			rep.bad(n, nil, "line %d: the checkpoint at chain link %d does not carry a valid signature by the key given: it was edited", n, c.Seq)
		}
		if rep.Problem != "" {
			return true
		}
		signed[c.Seq] = signedLink{line: n, hash: c.Hash}
	default:
		rep.bad(n, nil, "line %d has record %q; an audit export has export, row and checkpoint lines", n, kind.Record)
		return true
	}
	return false
}

// checkLinks ties the rows' links to each other and to the checkpoints,
// once every line has been read (rows come newest first, checkpoints
// last), and counts what is proven.
func (rep *ExportReport) checkLinks(hdr ExportHeader, links map[int64]exportedLink, signed map[int64]signedLink) {
	seqs := make([]int64, 0, len(links))
	for s := range links {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for i, s := range seqs {
		l := links[s]
		switch {
		case i > 0 && seqs[i-1] == s-1 && !bytes.Equal(l.prv, links[s-1].hash):
			// Each line matched its own hash, so the earlier line's row and
			// hash were edited together (a later hash is what checkpoints
			// sign).
			p := links[s-1]
			rep.bad(p.line, &p.id, "line %d (audit row %d) was edited: its hash is not the one link %d on line %d chains from", p.line, p.id, s, l.line)
		case !hdr.Filtered && (i == 0 && s != 1 || i > 0 && seqs[i-1] != s-1):
			rep.bad(l.line, &l.id, "chain link %d, before line %d (audit row %d), is missing from an unfiltered export: a row line was removed", s-1, l.line, l.id)
		case s == 1 && len(l.prv) != 0:
			rep.bad(l.line, &l.id, "line %d (audit row %d) is the chain's first link but names a previous hash", l.line, l.id)
		case signed[s].line != 0 && !bytes.Equal(l.hash, signed[s].hash):
			rep.bad(l.line, &l.id, "line %d (audit row %d) was edited: its link %d does not hold the hash the checkpoint on line %d signed", l.line, l.id, s, signed[s].line)
		}
		if rep.Problem != "" {
			return
		}
	}
	// From the newest link down: a row is proven when an unbroken run of
	// links leads from it to a signed checkpoint.
	covered := false
	for i := len(seqs) - 1; i >= 0; i-- {
		s := seqs[i]
		if i+1 < len(seqs) && seqs[i+1] != s+1 {
			covered = false
		}
		if _, ok := signed[s]; ok {
			covered = true
		}
		if covered {
			rep.Proven++
		} else {
			rep.ChainedNotSigned++
		}
	}
	rep.OK = true
}
