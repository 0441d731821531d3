package console

import (
	"bytes"
	"encoding/json"
	"html/template"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The list prints 50 rows and a thread up to 100 messages, and
// html/template pays for every value it prints (a call through reflect and
// its escaper): rendered anew, the rows are most of what a page costs. Yet
// the live script re-reads an open page on every change in the workspace,
// and from one reading to the next most rows are as they were. fragments
// keeps the HTML of such rows by everything they show, so that a page
// renders only the rows that changed.
//
// The key of a fragment is its template's set (a page's templates, so that
// a page that redefined a partial keeps its fragments apart) and name, the
// person's time zone (the templates' time functions show times in it) and
// its data in JSON:
// every exported field, the only ones a template can read (so a fragment's
// data type must not hide a field from JSON). A row whose words changed
// in any way is a new row: correctness never depends on the cache, and
// deleting it (rendering every row) changes no page. Its HTML is what
// html/template made of the row, escaping included.

// maxFragmentBytes bounds what fragments keep, keys and HTML together:
// some 8,000 list rows, or fewer long messages.
const maxFragmentBytes = 8 << 20

type fragments struct {
	mu    sync.Mutex
	html  map[string]template.HTML
	bytes int
	keys  sync.Pool // *bytes.Buffer to write keys into
}

// render is the HTML of template name of t, the pages in zone loc, for
// data: kept, or rendered and kept.
func (f *fragments) render(t *template.Template, loc *time.Location, name string, data any) (template.HTML, error) {
	key, _ := f.keys.Get().(*bytes.Buffer)
	if key == nil {
		key = new(bytes.Buffer)
	}
	defer f.keys.Put(key)
	key.Reset()
	key.Write(strconv.AppendUint(key.AvailableBuffer(), uint64(reflect.ValueOf(t).Pointer()), 16))
	key.WriteByte(0)
	key.WriteString(name)
	key.WriteByte(0)
	key.WriteString(loc.String())
	key.WriteByte(0)
	enc := json.NewEncoder(key)
	enc.SetEscapeHTML(false) // the key is never printed; escaping only costs
	if err := enc.Encode(data); err != nil {
		return "", err
	}
	f.mu.Lock()
	h, ok := f.html[string(key.Bytes())] // no copy of the key to look it up
	f.mu.Unlock()
	if ok {
		return h, nil
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		return "", err
	}
	h = template.HTML(buf.String())
	f.keep(key.String(), h)
	return h, nil
}

// keep stores h under key, forgetting arbitrary fragments while the store
// would grow past maxFragmentBytes.
func (f *fragments) keep(key string, h template.HTML) {
	n := len(key) + len(h)
	if n > maxFragmentBytes/64 { // one huge message would push out hundreds of rows
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.html[key]; ok {
		return
	}
	if f.html == nil {
		f.html = map[string]template.HTML{}
	}
	for k, v := range f.html {
		if f.bytes+n <= maxFragmentBytes {
			break
		}
		delete(f.html, k)
		f.bytes -= len(k) + len(v)
	}
	f.html[key] = h
	f.bytes += n
}

// renderAll renders each of items in template name of t (the pages in
// zone loc) through f, one after the other: the page prints them with one
// action where a range would pay one for each.
func renderAll[T any](f *fragments, t *template.Template, loc *time.Location, name string, items []T) (template.HTML, error) {
	hs := make([]template.HTML, len(items))
	n := 0
	for i, it := range items {
		h, err := f.render(t, loc, name, it)
		if err != nil {
			return "", err
		}
		hs[i], n = h, n+len(h)
	}
	var out strings.Builder
	out.Grow(n)
	for _, h := range hs {
		out.WriteString(string(h))
	}
	return template.HTML(out.String()), nil
}
