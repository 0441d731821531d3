package desk

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/tenancy"
)

// Search (DESIGN §21) is one engine for every door: the console, REST, the
// MCP search tools and the help center. A query is parsed here once
// (parseSearch) into a to_tsquery text; the database widens it with the
// workspace's look-alike words, matches it in the workspace's language
// (deskwoot_search_query), and the SECURITY DEFINER functions of migration
// 0031 find the matching ids through the GIN indexes, for the tenant of the
// transaction only. The rows themselves, and their highlights, are then
// read under row-level security as every other read.
//
// The query syntax is the web search syntax people know: words (all must
// match, in any of their forms), "quoted phrases", -word or -"phrase" to
// leave out, and OR between alternatives. The last word also matches as a
// prefix, so results follow what is being typed.

const (
	// maxQueryChars bounds a query's length, in characters.
	maxQueryChars = 500
	// maxQueryWords bounds the words of a query: each is an index look-up.
	maxQueryWords = 32
	// maxFuzzyWords bounds the words that are widened with look-alikes.
	maxFuzzyWords = 5
	// searchHits is how many of the newest matches of each kind (messages,
	// subjects, contacts) are ranked: the work of a search is bounded by it,
	// whatever the size of the workspace.
	searchHits = 200
	// maxSearchOffset bounds paging through one search's results.
	maxSearchOffset = 2000
)

// searchQuery is a user's search text, parsed.
type searchQuery struct {
	// terms is a to_tsquery text: every word quoted, so that nothing the
	// user typed is read as an operator; the last word a prefix.
	terms string
	// fuzzy are the words to look for (not those to leave out), lower
	// case, for widening with look-alike words of the workspace.
	fuzzy []string
}

// searchItem is a word or a quoted phrase of a query.
type searchItem struct {
	words  []string
	phrase bool
	not    bool // -word: leave out
	or     bool // joined to the previous item with OR instead of AND
}

// parseSearch checks and parses a search query. Bad input gets an error
// that says what to change; nothing a user types reaches SQL as syntax.
func parseSearch(raw string) (searchQuery, error) {
	if !utf8.ValidString(raw) || strings.ContainsRune(raw, 0) {
		return searchQuery{}, invalid("query", "query must be text without NUL characters")
	}
	if strings.TrimSpace(raw) == "" || utf8.RuneCountInString(raw) > maxQueryChars {
		return searchQuery{}, invalid("query", "query must be 1 to %d characters", maxQueryChars)
	}
	items := searchItems(raw)
	words, findable := 0, false
	for _, it := range items {
		words += len(it.words)
		if !it.not && hasWordChar(it.words) {
			findable = true
		}
	}
	if words > maxQueryWords {
		return searchQuery{}, invalid("query", "query has more than %d words; search for fewer", maxQueryWords)
	}
	if !findable {
		return searchQuery{}, invalid("query", "query needs a word to look for, not only punctuation or words to leave out")
	}
	return searchQuery{terms: tsqueryText(items), fuzzy: fuzzyWords(items)}, nil
}

// searchItems splits a query into words and phrases with their -, OR.
func searchItems(s string) []searchItem {
	var items []searchItem
	or, not := false, false
	for s != "" {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case unicode.IsSpace(r):
			s = s[size:]
			continue
		case r == '"':
			end := strings.IndexByte(s[1:], '"')
			body := s[1:]
			if end >= 0 {
				body, s = s[1:1+end], s[2+end:]
			} else {
				s = ""
			}
			if ws := strings.Fields(body); len(ws) > 0 {
				items = append(items, searchItem{words: ws, phrase: len(ws) > 1, not: not, or: or && len(items) > 0})
			}
			or, not = false, false
			continue
		}
		end := strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '"' })
		if end < 0 {
			end = len(s)
		}
		word := s[:end]
		s = s[end:]
		switch {
		case strings.EqualFold(word, "or") && len(items) > 0:
			or = true
		case strings.Trim(word, "-") == "" && strings.HasPrefix(s, `"`):
			not = true // -"a phrase"
		case strings.HasPrefix(word, "-") && strings.Trim(word, "-") != "":
			items = append(items, searchItem{words: []string{strings.TrimLeft(word, "-")}, not: true, or: or && len(items) > 0})
			or, not = false, false
		default:
			items = append(items, searchItem{words: []string{word}, not: not, or: or && len(items) > 0})
			or, not = false, false
		}
	}
	return items
}

// tsqueryText writes the items as a to_tsquery text. Every word is a quoted
// lexeme, which to_tsquery normalises with the workspace's configuration
// (stemming, dropping stop words) and never reads as an operator.
func tsqueryText(items []searchItem) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			if it.or {
				b.WriteString(" | ")
			} else {
				b.WriteString(" & ")
			}
		}
		if it.not {
			b.WriteString("!")
		}
		if it.phrase {
			b.WriteString("(")
		}
		for j, w := range it.words {
			if j > 0 {
				b.WriteString(" <-> ")
			}
			b.WriteString(quoteLexeme(w))
		}
		if it.phrase {
			b.WriteString(")")
		}
		// The last word is being typed: it matches as a prefix too.
		if i == len(items)-1 && !it.phrase && !it.not && utf8.RuneCountInString(it.words[0]) >= 2 {
			b.WriteString(":*")
		}
	}
	return b.String()
}

// quoteLexeme quotes a word for to_tsquery: inside quotes only the quote
// and the backslash are special, and both are escaped.
func quoteLexeme(w string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(w, `\`, `\\`), `'`, `''`) + "'"
}

// fuzzyWords are the words to look for, lower case, at most
// maxFuzzyWords of them, for typo tolerance.
func fuzzyWords(items []searchItem) []string {
	out := []string{}
	for _, it := range items {
		if it.not {
			continue
		}
		for _, w := range it.words {
			w = strings.ToLower(w)
			if len(out) < maxFuzzyWords && utf8.RuneCountInString(w) >= 3 && !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	return out
}

func hasWordChar(words []string) bool {
	for _, w := range words {
		if strings.IndexFunc(w, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0 {
			return true
		}
	}
	return false
}

// narrowInboxes is the inbox list a search may look in: the caller's scope
// (nil = every inbox) narrowed to one inbox when a filter names it. An
// inbox outside the scope leaves an empty list, which finds nothing.
func narrowInboxes(scope []int64, inboxID int64) []int64 {
	switch {
	case inboxID == 0:
		return scope
	case scope == nil || slices.Contains(scope, inboxID):
		return []int64{inboxID}
	}
	return []int64{}
}

// A search page's cursor is the position in the ranked results (results
// rank by relevance, so there is no keyset to continue from).
func searchCursor(offset int) *string {
	s := base64.RawURLEncoding.EncodeToString([]byte("s1:" + strconv.Itoa(offset)))
	return &s
}

func parseSearchCursor(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	n, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "s1:"))
	if err != nil || err2 != nil || !strings.HasPrefix(string(raw), "s1:") || n < 1 || n > maxSearchOffset {
		return 0, invalid("cursor", "cursor is not one this server issued for this search; start again without a cursor")
	}
	return n, nil
}

// searchPage cuts one page from rows fetched with one extra: the cursor
// points past the page when there is more.
func searchPage[T any](rows []T, offset, limit int) ([]T, *string) {
	if rows == nil {
		rows = []T{}
	}
	if len(rows) <= limit || offset+limit > maxSearchOffset {
		if len(rows) > limit {
			rows = rows[:limit]
		}
		return rows, nil
	}
	return rows[:limit], searchCursor(offset + limit)
}

// Highlight is where a search matched: a stretch of one field of a result
// with the matching words marked by their positions. The text is plain
// text, never markup: Matches are [start, end) offsets counted in
// characters (Unicode code points) of Text. Content highlights name their
// message.
type Highlight struct {
	// Field is content, subject, contact.name or contact.email for a
	// conversation; name or email for a contact; title or body for an article.
	Field     string   `json:"field"`
	MessageID *int64   `json:"message_id,omitempty"`
	Text      string   `json:"text"`
	Matches   [][2]int `json:"matches"`
}

// HighlightPart is a stretch of a highlight's text, matching or not; the
// console renders the parts, escaping each.
type HighlightPart struct {
	Text  string
	Match bool
}

// Parts splits the text at the matches.
func (h Highlight) Parts() []HighlightPart {
	runes := []rune(h.Text)
	var out []HighlightPart
	at := 0
	for _, m := range h.Matches {
		if m[0] < at || m[1] > len(runes) || m[0] >= m[1] {
			continue
		}
		if m[0] > at {
			out = append(out, HighlightPart{Text: string(runes[at:m[0]])})
		}
		out = append(out, HighlightPart{Text: string(runes[m[0]:m[1]]), Match: true})
		at = m[1]
	}
	if at < len(runes) {
		out = append(out, HighlightPart{Text: string(runes[at:])})
	}
	return out
}

// The markers ts_headline puts around matches. Searched text has them
// replaced by spaces first (noMarkers), so that text cannot forge a match.
const (
	markStart = '\x01'
	markStop  = '\x02'
	// noMarkers is SQL that blanks the markers in a text column.
	noMarkers = `translate(%s, E'\x01\x02', '  ')`
	// headlineAll marks every match in a short field.
	headlineAll = `E'StartSel=\x01, StopSel=\x02, HighlightAll=true'`
	// headlineFragments marks up to two stretches of a long text.
	headlineFragments = `E'StartSel=\x01, StopSel=\x02, MaxWords=30, MinWords=12, ShortWord=0, MaxFragments=2, FragmentDelimiter=" … "'`
	// headlineChars bounds the text ts_headline reads of a long message
	// or article: a match further in is found, but not highlighted.
	headlineChars = 20000
)

// markedHighlight turns ts_headline's output into a highlight; ok is false
// when nothing in it matched.
func markedHighlight(field string, marked *string) (Highlight, bool) {
	if marked == nil || !strings.ContainsRune(*marked, markStart) {
		return Highlight{}, false
	}
	var b strings.Builder
	h := Highlight{Field: field, Matches: [][2]int{}}
	pos, start := 0, -1
	for _, r := range *marked {
		switch r {
		case markStart:
			start = pos
		case markStop:
			if start >= 0 && pos > start {
				h.Matches = append(h.Matches, [2]int{start, pos})
			}
			start = -1
		default:
			b.WriteRune(r)
			pos++
		}
	}
	h.Text = b.String()
	return h, len(h.Matches) > 0
}

// plainText is ts_headline's output without its markers.
func plainText(marked string) string {
	return strings.Map(func(r rune) rune {
		if r == markStart || r == markStop {
			return -1
		}
		return r
	}, marked)
}

// searchWhere starts the conditions of a search statement: $1, $2 and $3
// are the query's terms, its fuzzy words and the inboxes to look in.
func searchWhere(sq searchQuery, inboxes []int64) where {
	return where{args: []any{sq.terms, sq.fuzzy, inboxes}}
}

// searchQuerySQL widens and parses the query once, for the statement.
const searchQuerySQL = `q AS MATERIALIZED (SELECT config, q, qc FROM deskwoot_search_query($1, $2))`

func headline(config, column, query, options string) string {
	return `ts_headline(` + config + `, ` + strings.Replace(noMarkers, "%s", column, 1) + `, ` + query + `, ` + options + `)`
}

func headlineLong(config, column, query string) string {
	return headline(config, "left("+column+", "+strconv.Itoa(headlineChars)+")", query, headlineFragments)
}

// SearchLanguages are the languages a workspace may search in: PostgreSQL's
// text search configurations (migration 0031 checks the same list);
// "simple" matches words as written, without forms.
var SearchLanguages = []string{"simple", "arabic", "danish", "dutch", "english", "finnish", "french", "german",
	"hungarian", "indonesian", "irish", "italian", "lithuanian", "nepali", "norwegian", "portuguese",
	"romanian", "russian", "spanish", "swedish", "tamil", "turkish"}

// SearchLanguageGet is the workspace's search language.
func (d *Desk) SearchLanguageGet(ctx context.Context, acct int64) (string, error) {
	var lang string
	b := &pgx.Batch{}
	b.Queue(`SELECT search_language FROM accounts WHERE id = $1`, acct).QueryRow(func(r pgx.Row) error { return r.Scan(&lang) })
	return lang, d.DB.Batch(ctx, acct, b)
}

// SearchLanguageSet changes the workspace's search language and re-indexes
// its messages, subjects and articles in the same transaction (minutes for
// a million messages; searches use the old language until it commits),
// with the request's audit row.
func (d *Desk) SearchLanguageSet(ctx context.Context, req *tenancy.Request, lang string) error {
	if !slices.Contains(SearchLanguages, lang) {
		return invalid("language", "language must be one of %s", strings.Join(SearchLanguages, ", "))
	}
	return d.inUnit(ctx, req, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE accounts SET search_language = $2 WHERE id = $1 AND search_language <> $2`, req.AccountID, lang)
		if err != nil || tag.RowsAffected() == 0 {
			return err // unchanged: nothing to re-index
		}
		for _, stmt := range []string{
			`UPDATE messages SET search = to_tsvector($1::regconfig, content)`,
			`UPDATE conversations SET search = to_tsvector($1::regconfig, subject)`,
			`UPDATE articles SET search = setweight(to_tsvector($1::regconfig, title), 'A') || setweight(to_tsvector($1::regconfig, body), 'B')`,
		} {
			if _, err := tx.Exec(ctx, stmt, lang); err != nil {
				return err
			}
		}
		return nil
	})
}
