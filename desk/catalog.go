package desk

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/input"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Label tags conversations.
type Label struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Color       string `json:"color"`
}

var labelName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,49}$`)

// LabelCreate adds a label in the request's account, with its audit row;
// names are lower-case slugs, unique per account.
func (d *Desk) LabelCreate(ctx context.Context, req *tenancy.Request, name, description, color string) (Label, error) {
	if !labelName.MatchString(name) {
		return Label{}, invalid("name", "label name must be 1 to 50 lower-case letters, digits, - or _")
	}
	if err := input.Text("description", description, input.MaxDescription); err != nil {
		return Label{}, err
	}
	if err := input.Text("color", color, 20); err != nil {
		return Label{}, err
	}
	if color == "" {
		color = "#1f93ff"
	}
	var l Label
	err := d.inUnit(ctx, req, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `INSERT INTO labels (account_id, name, description, color) VALUES ($1, $2, $3, $4)
			RETURNING id, name, description, color`, req.AccountID, name, description, color)
		var err error
		if l, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Label]); err != nil {
			return mapErr(err, tenancy.Fields{"name": name})
		}
		req.Audit.Touched("label_id", l.ID)
		return nil
	})
	return l, err
}

// LabelList lists the account's labels by name.
func (d *Desk) LabelList(ctx context.Context, req *tenancy.Request) ([]Label, error) {
	return all[Label](ctx, d.DB, req, labelListSQL)
}

const labelListSQL = `SELECT id, name, description, color FROM labels ORDER BY name`

// Team is a group of agents conversations can be assigned to.
type Team struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	Description string  `json:"description"`
	MemberIDs   []int64 `json:"member_ids"`
}

// TeamCreate adds a team with its members (users of the account), with the
// request's audit row.
func (d *Desk) TeamCreate(ctx context.Context, req *tenancy.Request, name, description string, members []int64) (Team, error) {
	if err := input.Required("name", name, input.MaxName); err != nil {
		return Team{}, err
	}
	if err := input.Text("description", description, input.MaxDescription); err != nil {
		return Team{}, err
	}
	t := Team{Name: name, Description: description, MemberIDs: members}
	if t.MemberIDs == nil {
		t.MemberIDs = []int64{}
	}
	acct := req.AccountID
	err := d.inUnit(ctx, req, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO teams (account_id, name, description) VALUES ($1, $2, $3) RETURNING id`,
			acct, name, description).Scan(&t.ID); err != nil {
			return mapErr(err, tenancy.Fields{"name": name})
		}
		for _, u := range members {
			if _, err := tx.Exec(ctx, `INSERT INTO team_members (account_id, team_id, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				acct, t.ID, u); err != nil {
				return named(err, "member_ids", "user", u)
			}
		}
		req.Audit.Touched("team_id", t.ID)
		return nil
	})
	return t, err
}

// TeamList lists teams with their member ids.
func (d *Desk) TeamList(ctx context.Context, req *tenancy.Request) ([]Team, error) {
	return all[Team](ctx, d.DB, req, teamListSQL)
}

const teamListSQL = `SELECT t.id, t.name, t.description,
		coalesce((SELECT array_agg(user_id ORDER BY user_id) FROM team_members m WHERE m.team_id = t.id), '{}')
	FROM teams t ORDER BY t.name`

// Agent is a member conversations can be assigned to.
type Agent struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
	Role string `json:"role"`
}

// AgentList lists the account's active members (people and the agent).
func (d *Desk) AgentList(ctx context.Context, req *tenancy.Request) ([]Agent, error) {
	return all[Agent](ctx, d.DB, req, agentListSQL)
}

// People is the account's members and teams, read in one round trip:
// whom conversations can be assigned or escalated to.
func (d *Desk) People(ctx context.Context, req *tenancy.Request) ([]Agent, []Team, error) {
	var agents []Agent
	var teams []Team
	b := &pgx.Batch{}
	b.Queue(agentListSQL).Query(func(rows pgx.Rows) error {
		var err error
		agents, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Agent])
		return err
	})
	b.Queue(teamListSQL).Query(func(rows pgx.Rows) error {
		var err error
		teams, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Team])
		return err
	})
	if err := d.DB.Read(ctx, req, b); err != nil {
		return nil, nil, err
	}
	return nonNil(agents), nonNil(teams), nil
}

const agentListSQL = `SELECT u.id, u.name, u.kind, au.role FROM account_users au JOIN users u ON u.id = au.user_id
	WHERE au.status = 'active' ORDER BY u.id`

// Article is a help-center article.
type Article struct {
	ID    int64  `json:"id"`
	Title string `json:"title"`
	Body  string `json:"body,omitempty"`
	// Snippet, in search results, is plain text around the matches.
	Snippet   string    `json:"snippet,omitempty"`
	Status    string    `json:"status"`
	UpdatedAt time.Time `json:"updated_at"`
	// Highlights, in search results, show where the article matched.
	Highlights []Highlight `json:"highlights,omitempty" db:"-"`
}

// ArticleCreate adds an article (published or draft), with the request's
// audit row.
func (d *Desk) ArticleCreate(ctx context.Context, req *tenancy.Request, title, body, status string) (Article, error) {
	if status == "" {
		status = "published"
	}
	switch {
	case strings.TrimSpace(title) == "" || len(title) > 300:
		return Article{}, invalid("title", "title must be 1 to 300 characters")
	case len(body) > 200000:
		return Article{}, invalid("body", "body is at most 200000 characters")
	case status != "published" && status != "draft":
		return Article{}, invalid("status", "status must be published or draft")
	}
	var a Article
	err := d.inUnit(ctx, req, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO articles (account_id, title, body, status) VALUES ($1, $2, $3, $4)
			RETURNING id, title, body, status, updated_at`, req.AccountID, title, body, status).Scan(&a.ID, &a.Title, &a.Body, &a.Status, &a.UpdatedAt); err != nil {
			return err
		}
		req.Audit.Touched("article_id", a.ID)
		return nil
	})
	return a, err
}

// ArticleList lists articles, newest first; onlyPublished hides drafts.
func (d *Desk) ArticleList(ctx context.Context, req *tenancy.Request, onlyPublished bool) ([]Article, error) {
	return all[Article](ctx, d.DB, req, `SELECT id, title, '', '', status, updated_at FROM articles WHERE (NOT $1 OR status = 'published') ORDER BY id DESC LIMIT 500`, onlyPublished)
}

// ArticleSearch finds published articles that match the query (see
// search.go), most relevant first, with a snippet and highlights.
func (d *Desk) ArticleSearch(ctx context.Context, req *tenancy.Request, query string, limit int) ([]Article, error) {
	sq, err := parseSearch(query)
	if err != nil {
		return nil, err
	}
	if limit, err = clampLimit(limit); err != nil {
		return nil, err
	}
	return collect(ctx, d.DB, req, scanSearchArticle, `WITH `+searchQuerySQL+`,
		hits AS (
			SELECT h.article_id, h.score FROM q, deskwoot_search_articles(q.q, `+strconv.Itoa(searchHits)+`) h
		), page AS (
			SELECT a.id, a.title, a.status, a.updated_at, h.score FROM hits h JOIN articles a ON a.id = h.article_id
			WHERE a.status = 'published'
			ORDER BY h.score DESC, a.updated_at DESC, a.id DESC LIMIT `+strconv.Itoa(limit)+`
		)
		SELECT p.id, p.title, p.status, p.updated_at,
			`+headline("q.config", "p.title", "q.q", headlineAll)+`,
			(SELECT `+headlineLong("q.config", "a.body", "q.q")+` FROM articles a WHERE a.id = p.id)
		FROM page p, q
		ORDER BY p.score DESC, p.updated_at DESC, p.id DESC`, sq.terms, sq.fuzzy)
}

// scanSearchArticle reads an article found by a search: its snippet is the
// body's marked stretch as plain text.
func scanSearchArticle(r pgx.CollectableRow) (Article, error) {
	var a Article
	var title, body *string
	err := r.Scan(&a.ID, &a.Title, &a.Status, &a.UpdatedAt, &title, &body)
	if h, ok := markedHighlight("title", title); ok {
		a.Highlights = append(a.Highlights, h)
	}
	if body != nil {
		a.Snippet = plainText(*body)
	}
	if h, ok := markedHighlight("body", body); ok {
		a.Highlights = append(a.Highlights, h)
	}
	return a, err
}

// ArticleGet reads a published article; publishedOnly hides drafts (agents).
func (d *Desk) ArticleGet(ctx context.Context, req *tenancy.Request, id int64, publishedOnly bool) (Article, error) {
	var a Article
	b := &pgx.Batch{}
	b.Queue(`SELECT id, title, body, '', status, updated_at FROM articles WHERE id = $1 AND (NOT $2 OR status = 'published')`, id, publishedOnly).
		QueryRow(func(r pgx.Row) error { return r.Scan(&a.ID, &a.Title, &a.Body, &a.Snippet, &a.Status, &a.UpdatedAt) })
	return a, withKind(d.DB.Read(ctx, req, b), "article", id)
}

// ArticleStatusSet publishes an article or takes it back to draft, with the
// request's audit row.
func (d *Desk) ArticleStatusSet(ctx context.Context, req *tenancy.Request, id int64, status string) (Article, error) {
	if status != "published" && status != "draft" {
		return Article{}, invalid("status", "status must be published or draft")
	}
	var a Article
	b := &pgx.Batch{}
	b.Queue(`UPDATE articles SET status = $2, updated_at = now() WHERE id = $1 RETURNING id, title, '', '', status, updated_at`, id, status).
		QueryRow(func(r pgx.Row) error { return r.Scan(&a.ID, &a.Title, &a.Body, &a.Snippet, &a.Status, &a.UpdatedAt) })
	req.Audit.Touched("article_id", id)
	// The update goes in the round trip that begins the unit; the audit
	// row follows only once it found its article.
	return a, withKind(d.DB.Unit(ctx, req, b, nothingMore), "article", id)
}
