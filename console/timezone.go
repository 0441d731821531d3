package console

import (
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Time zones (issue 20): every time the console shows is in the person's
// own zone (users.time_zone, set from the browser at sign-in until they
// choose one on their profile), with the zone's abbreviation beside it.

// Layouts of the times pages show; MST prints the zone's abbreviation
// (EST, CET) or its offset (+03) where it has none.
const (
	minuteLayout = "2006-01-02 15:04 MST"
	secondLayout = "2006-01-02 15:04:05 MST"
)

// zones keeps the locations people's zones name and the pages parsed for
// each: a cache a reader may delete (parsing the pages for a zone takes
// milliseconds), bounded by the IANA zones, since only names that load
// are kept.
type zones struct {
	mu    sync.Mutex
	locs  map[string]*time.Location
	pages map[*time.Location]*templates
}

// location loads an IANA zone once; nil for a name that is not one.
func (z *zones) location(name string) *time.Location {
	if name == "" || name == "UTC" {
		return time.UTC
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if loc, ok := z.locs[name]; ok {
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil
	}
	if z.locs == nil {
		z.locs = map[string]*time.Location{}
	}
	z.locs[name] = loc
	return loc
}

// zone is the signed-in person's time zone (UTC when unset, or for a
// signed-out page).
func (c *Console) zone(r *http.Request) *time.Location {
	if loc := c.zones.location(c.who(r).me.TimeZone); loc != nil {
		return loc
	}
	return time.UTC
}

// pagesIn is the pages parsed to show times in loc.
func (c *Console) pagesIn(loc *time.Location) *templates {
	if loc == time.UTC {
		return c.pages
	}
	c.zones.mu.Lock()
	defer c.zones.mu.Unlock()
	if t, ok := c.zones.pages[loc]; ok {
		return t
	}
	t, err := parseTemplates(loc)
	if err != nil { // the same files parsed for UTC at start: cannot happen
		return c.pages
	}
	if c.zones.pages == nil {
		c.zones.pages = map[*time.Location]*templates{}
	}
	c.zones.pages[loc] = t
	return t
}

// browserZone takes the time zone the sign-in or sign-up form's script
// read from the browser as the person's, while they have none. A zone
// that cannot be stored only leaves times in UTC, so it does not stop
// the sign-in.
func (c *Console) browserZone(r *http.Request, f *Form, acct, userID int64) {
	if tz := f.Value("time_zone"); tz != "" {
		if err := c.cfg.Desk.TimeZoneFromBrowser(r.Context(), acct, userID, tz); err != nil {
			slog.WarnContext(r.Context(), "could not keep the browser's time zone", "err", err)
		}
	}
}
