package console

import (
	"bytes"
	"encoding/binary"
	"html/template"
	"reflect"
	"slices"
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
// its data, which writes itself into the key (keyed): every exported
// field, the only ones a template can read, each with its length first so
// that no two values write the same key. A row whose words changed in any
// way is a new row: correctness never depends on the cache, and deleting
// it (rendering every row) changes no page. Its HTML is what html/template
// made of the row, escaping included.
//
// The data writes its key field by field rather than through
// encoding/json: a thread's lines carry their messages' whole text, and
// reflecting over each line to encode it cost as much as the rest of the
// page (TestFragmentKeysShowEveryField keeps the methods complete).

// maxFragmentBytes bounds what fragments keep, keys and HTML together:
// some 8,000 list rows, or fewer long messages.
const maxFragmentBytes = 8 << 20

type fragments struct {
	mu    sync.Mutex
	html  map[string]template.HTML
	bytes int
	keys  sync.Pool // *[]byte to write keys into
}

// keyed is a fragment's data: it appends to k every field a template can
// print, each with keyString, keyBool, keyInt or keyList, and returns k.
type keyed interface {
	appendKey(k []byte) []byte
}

// keyString appends s, its length first: "ab","" and "a","b" differ.
func keyString(k []byte, s string) []byte {
	return append(binary.AppendUvarint(k, uint64(len(s))), s...)
}

func keyBool(k []byte, b bool) []byte {
	if b {
		return append(k, 1)
	}
	return append(k, 0)
}

func keyInt(k []byte, n int64) []byte { return binary.AppendVarint(k, n) }

// keyCount appends how many items of a list follow.
func keyCount(k []byte, n int) []byte { return binary.AppendUvarint(k, uint64(n)) }

// keyStrings appends ss, their count first.
func keyStrings(k []byte, ss []string) []byte {
	k = keyCount(k, len(ss))
	for _, s := range ss {
		k = keyString(k, s)
	}
	return k
}

// keyList appends items, their count first.
func keyList[T keyed](k []byte, items []T) []byte {
	k = keyCount(k, len(items))
	for _, it := range items {
		k = it.appendKey(k)
	}
	return k
}

// keySet appends the keys of m that are true, in order (a page's
// navigation marks its entry so).
func keySet(k []byte, m map[string]bool) []byte {
	var on []string
	for name, ok := range m {
		if ok {
			on = append(on, name)
		}
	}
	slices.Sort(on)
	return keyStrings(k, on)
}

// render is the HTML of template name of t, the pages in zone loc, for
// data: kept, or rendered and kept.
func (f *fragments) render(t *template.Template, loc *time.Location, name string, data keyed) (template.HTML, error) {
	return renderKept(f, t, loc, name, data)
}

// renderKept is f.render for data of type T: a row passed as keyed would
// be copied to the heap (an allocation per row); as a T it is copied only
// when it is rendered.
func renderKept[T keyed](f *fragments, t *template.Template, loc *time.Location, name string, data T) (template.HTML, error) {
	kp := f.keyBuffer()
	defer f.keys.Put(kp)
	key := data.appendKey(keyHead((*kp)[:0], t, loc, name, false))
	*kp = key
	if h, ok := f.kept(key); ok {
		return h, nil
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		return "", err
	}
	h := template.HTML(buf.String())
	f.keep(string(key), h)
	return h, nil
}

// keyBuffer is a buffer to write a key into, from f.keys.
func (f *fragments) keyBuffer() *[]byte {
	if kp, ok := f.keys.Get().(*[]byte); ok {
		return kp
	}
	return new([]byte)
}

// keyHead starts a key: the template's set and name, the zone, and
// whether the key is of one fragment or of a whole list (renderAll).
func keyHead(k []byte, t *template.Template, loc *time.Location, name string, list bool) []byte {
	k = binary.AppendUvarint(k, uint64(reflect.ValueOf(t).Pointer()))
	return keyBool(keyString(keyString(k, name), loc.String()), list)
}

// kept is the fragment kept under key, if any.
func (f *fragments) kept(key []byte) (template.HTML, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.html[string(key)] // no copy of the key to look it up
	return h, ok
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
// action where a range would pay one for each. The whole list is kept
// too, by its items' keys: a page read again with the same rows finds
// them whole, rather than looking each up and joining them into a string
// as long as the page.
func renderAll[T keyed](f *fragments, t *template.Template, loc *time.Location, name string, items []T) (template.HTML, error) {
	kp := f.keyBuffer()
	defer f.keys.Put(kp)
	key := keyList(keyHead((*kp)[:0], t, loc, name, true), items)
	*kp = key
	if h, ok := f.kept(key); ok {
		return h, nil
	}
	hs := make([]template.HTML, len(items))
	n := 0
	for i, it := range items {
		h, err := renderKept(f, t, loc, name, it)
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
	all := template.HTML(out.String())
	f.keep(string(key), all)
	return all, nil
}
