package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/server"
	"github.com/deskwoot/deskwoot/tenancy"
)

// BenchmarkPagesVsREST measures the console's conversation list (50 rows)
// and a thread of 100 messages against the REST calls that return the
// same data, side by side in one run on one server: each iteration makes
// one page request and one REST request, alternating, so both see the same
// machine. It reports each side's server time, the ratio page/REST
// (target ≤ 1.5), the processor time the process (server and client) used
// for each, which a shared machine moves far less than the elapsed time,
// and the bytes each response carries (page target < 100 KB).
//
// Figures (issue 20, 2026-12-07, 2,000 iterations, the build before the
// pages' work and after it run in turns, four runs each, load 6-12 on 2
// CPUs; median and range): list page/REST 1.18 (1.15-1.30) before, 1.13
// (1.06-1.17) after; thread 1.28 (1.14-1.45) before, 1.15 (0.92-1.44)
// after. Processor time page/REST, list 1.31 (1.30-1.40) before, 1.18
// (1.08-1.20) after; thread 1.40 (1.37-1.44) before, 1.16 (1.11-1.17)
// after. A page read again renders (BenchmarkRender*/kept) with 107
// allocations and 4.8 KB (list; 226 and 74 KB before) and 77 and 4.0 KB
// (thread; 395 and 75 KB before).
func BenchmarkPagesVsREST(b *testing.B) {
	ctx := context.Background()
	app, err := server.Build(ctx, server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: "http://127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	defer srv.Close()

	// A workspace through REST (its API token) and the same person signed
	// in to the console (a session cookie).
	email := dbtest.Unique("bench") + "@example.com"
	var su struct {
		APIToken string `json:"api_token"`
		Account  struct {
			ID int64 `json:"id"`
		} `json:"account"`
	}
	body, _ := json.Marshal(map[string]string{"account_name": "Bench", "email": email, "password": "correct horse battery"})
	res, err := http.Post(srv.URL+"/api/v1/signup", "application/json", bytes.NewReader(body))
	if err != nil || res.StatusCode != 201 {
		b.Fatalf("signup: %v %v", err, res)
	}
	json.NewDecoder(res.Body).Decode(&su)
	res.Body.Close()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", srv.URL+"/signin", strings.NewReader(url.Values{"email": {email}, "password": {"correct horse battery"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL)
	if res, err := browser.Do(req); err != nil || res.StatusCode != http.StatusSeeOther {
		b.Fatalf("sign in: %v %v", err, res)
	}

	// 60 conversations (the list shows 50), one of them with 100 messages.
	d := &desk.Desk{DB: app.DB}
	acct := su.Account.ID
	ib, err := d.InboxCreate(ctx, tenancy.For(acct), desk.InboxInput{Name: "Support", Channel: "api"})
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range []string{"billing", "shipping", "vip"} {
		d.LabelCreate(ctx, tenancy.For(acct), l, "", "")
	}
	var thread int64
	for i := 0; i < 60; i++ {
		r, err := d.IncomingMessage(ctx, acct, ib.ID, desk.IncomingInput{Contact: desk.IncomingContact{
			Email: fmt.Sprintf("customer%d@example.com", i), Name: fmt.Sprintf("Customer %d", i)},
			Content: "Hello, my order has not arrived yet; can you check where it is?", SourceID: fmt.Sprint("s", i)})
		if err != nil {
			b.Fatal(err)
		}
		thread = r.ConversationID
	}
	for i := 0; i < 99; i++ {
		if _, err := d.MessageCreate(ctx, acct, thread, fmt.Sprintf("Message %d of a long thread: we are looking into it and will write back shortly with the tracking details.", i),
			i%3 == 0, desk.Author{Kind: "user", Name: "Bench"}); err != nil {
			b.Fatal(err)
		}
	}

	// cpu is the processor time this process (server and client) has
	// used: on a shared machine it moves far less than the elapsed time.
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	get := func(c *http.Client, path, token string) (took, used time.Duration, size int) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		start, cpu0 := time.Now(), cpu()
		res, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		took, used = time.Since(start), cpu()-cpu0
		if res.StatusCode != 200 {
			b.Fatalf("GET %s: %d", path, res.StatusCode)
		}
		return took, used, int(n)
	}
	for _, bc := range []struct{ name, page, rest string }{
		{"list50", "/conversations", "/api/v1/conversations?view=open&limit=50"},
		{"thread100", fmt.Sprintf("/conversations/%d", thread), fmt.Sprintf("/api/v1/conversations/%d?messages_limit=100", thread)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			get(browser, bc.page, "") // warm both paths
			get(http.DefaultClient, bc.rest, su.APIToken)
			var pageT, restT, pageCPU, restCPU time.Duration
			var pageN, restN int
			var pageTrips, restTrips int64
			for i := 0; i < b.N; i++ {
				trips := app.DB.RoundTrips()
				t, used, n := get(browser, bc.page, "")
				pageT, pageCPU, pageN, pageTrips = pageT+t, pageCPU+used, n, pageTrips+app.DB.RoundTrips()-trips
				trips = app.DB.RoundTrips()
				t, used, n = get(http.DefaultClient, bc.rest, su.APIToken)
				restT, restCPU, restN, restTrips = restT+t, restCPU+used, n, restTrips+app.DB.RoundTrips()-trips
			}
			b.ReportMetric(float64(pageT.Microseconds())/float64(b.N), "page-µs")
			b.ReportMetric(float64(restT.Microseconds())/float64(b.N), "rest-µs")
			b.ReportMetric(float64(pageT)/float64(restT), "page/rest")
			b.ReportMetric(float64(pageCPU.Microseconds())/float64(b.N), "page-cpu-µs")
			b.ReportMetric(float64(restCPU.Microseconds())/float64(b.N), "rest-cpu-µs")
			b.ReportMetric(float64(pageCPU)/float64(restCPU), "cpu-page/rest")
			b.ReportMetric(float64(pageN)/1024, "page-KB")
			b.ReportMetric(float64(restN)/1024, "rest-KB")
			b.ReportMetric(float64(pageTrips)/float64(b.N), "page-trips")
			b.ReportMetric(float64(restTrips)/float64(b.N), "rest-trips")
		})
	}
}
