package desk

import (
	"context"
	"regexp"
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

// LabelCreate adds a label; names are lower-case slugs, unique per account.
func (d *Desk) LabelCreate(ctx context.Context, acct int64, name, description, color string) (Label, error) {
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
	err := d.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `INSERT INTO labels (account_id, name, description, color) VALUES ($1, $2, $3, $4)
			RETURNING id, name, description, color`, acct, name, description, color)
		var err error
		l, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Label])
		return mapErr(err, tenancy.Fields{"name": name})
	})
	return l, err
}

// LabelList lists the account's labels by name.
func (d *Desk) LabelList(ctx context.Context, acct int64) ([]Label, error) {
	return all[Label](ctx, d.DB, acct, labelListSQL)
}

const labelListSQL = `SELECT id, name, description, color FROM labels ORDER BY name`

// Team is a group of agents conversations can be assigned to.
type Team struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	Description string  `json:"description"`
	MemberIDs   []int64 `json:"member_ids"`
}

// TeamCreate adds a team with its members (users of the account).
func (d *Desk) TeamCreate(ctx context.Context, acct int64, name, description string, members []int64) (Team, error) {
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
	err := d.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
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
		return nil
	})
	return t, err
}

// TeamList lists teams with their member ids.
func (d *Desk) TeamList(ctx context.Context, acct int64) ([]Team, error) {
	return all[Team](ctx, d.DB, acct, teamListSQL)
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

// AgentList lists the account's members (people and the agent).
func (d *Desk) AgentList(ctx context.Context, acct int64) ([]Agent, error) {
	return all[Agent](ctx, d.DB, acct, agentListSQL)
}

const agentListSQL = `SELECT u.id, u.name, u.kind, au.role FROM account_users au JOIN users u ON u.id = au.user_id ORDER BY u.id`

// Article is a help-center article.
type Article struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	Body      string    `json:"body,omitempty"`
	Snippet   string    `json:"snippet,omitempty"`
	Status    string    `json:"status"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ArticleCreate adds an article (published or draft).
func (d *Desk) ArticleCreate(ctx context.Context, acct int64, title, body, status string) (Article, error) {
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
	err := d.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO articles (account_id, title, body, status) VALUES ($1, $2, $3, $4)
			RETURNING id, title, body, status, updated_at`, acct, title, body, status).Scan(&a.ID, &a.Title, &a.Body, &a.Status, &a.UpdatedAt)
	})
	return a, err
}

// ArticleList lists articles, newest first; onlyPublished hides drafts.
func (d *Desk) ArticleList(ctx context.Context, acct int64, onlyPublished bool) ([]Article, error) {
	return all[Article](ctx, d.DB, acct, `SELECT id, title, '', '', status, updated_at FROM articles WHERE (NOT $1 OR status = 'published') ORDER BY id DESC LIMIT 500`, onlyPublished)
}

// ArticleSearch ranks published articles against a query.
func (d *Desk) ArticleSearch(ctx context.Context, acct int64, query string, limit int) ([]Article, error) {
	if len(query) == 0 || len(query) > 500 {
		return nil, invalid("query", "query must be 1 to 500 characters")
	}
	limit, err := clampLimit(limit)
	if err != nil {
		return nil, err
	}
	var out []Article
	b := &pgx.Batch{}
	b.Queue(`WITH q AS (SELECT websearch_to_tsquery('english', $1) AS q)
		SELECT id, title, '', ts_headline('english', body, q.q, 'MaxWords=35, MinWords=15'), status, updated_at
		FROM articles, q WHERE status = 'published' AND search @@ q.q
		ORDER BY ts_rank(search, q.q) DESC, id DESC LIMIT $2`, query, limit).Query(func(rows pgx.Rows) error {
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Article])
		return err
	})
	return out, d.DB.Batch(ctx, acct, b)
}

// ArticleGet reads a published article; publishedOnly hides drafts (agents).
func (d *Desk) ArticleGet(ctx context.Context, acct, id int64, publishedOnly bool) (Article, error) {
	var a Article
	b := &pgx.Batch{}
	b.Queue(`SELECT id, title, body, '', status, updated_at FROM articles WHERE id = $1 AND (NOT $2 OR status = 'published')`, id, publishedOnly).
		QueryRow(func(r pgx.Row) error { return r.Scan(&a.ID, &a.Title, &a.Body, &a.Snippet, &a.Status, &a.UpdatedAt) })
	return a, withKind(d.DB.Batch(ctx, acct, b), "article", id)
}

// ArticleStatusSet publishes an article or takes it back to draft.
func (d *Desk) ArticleStatusSet(ctx context.Context, acct, id int64, status string) (Article, error) {
	if status != "published" && status != "draft" {
		return Article{}, invalid("status", "status must be published or draft")
	}
	var a Article
	b := &pgx.Batch{}
	b.Queue(`UPDATE articles SET status = $2, updated_at = now() WHERE id = $1 RETURNING id, title, '', '', status, updated_at`, id, status).
		QueryRow(func(r pgx.Row) error { return r.Scan(&a.ID, &a.Title, &a.Body, &a.Snippet, &a.Status, &a.UpdatedAt) })
	return a, withKind(d.DB.Batch(ctx, acct, b), "article", id)
}
