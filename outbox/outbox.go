// Package outbox delivers outgoing messages on their channel (api inbox
// webhooks, email through the inbox's SMTP relay) through a transactional
// outbox on River.
//
// desk stores every outgoing message and calls EnqueueDelivery in the same
// transaction, so the job commits with the message or not at all. Workers
// run in every `deskwoot serve` replica; River hands each job to one of
// them. A worker enters the tenant with InTenant like every other caller,
// delivers, and records the outcome on the message (delivery_status
// pending/sent/failed and the last error). Delivery is at least once: a
// crash between sending and recording repeats the send with the same
// Idempotency-Key (email: the same Message-ID), so receivers can drop it.
//
// Deliveries are fair between accounts: one account's slow, hanging or
// failing endpoints never hold more than AccountWorkers of a replica's
// Workers (the rest of its jobs are snoozed, holding no worker), every
// attempt has a short connect and a total deadline, and backoff is River's
// retry schedule, never a sleeping worker. Every connection goes through
// the egress guard.
package outbox

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/egress"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Defaults for Config's zero values.
const (
	DefaultQueue          = "outbox"
	DefaultWorkers        = 10
	DefaultAccountWorkers = 3
	DefaultMaxAttempts    = 8
	DefaultConnectTimeout = egress.DefaultConnectTimeout
	DefaultHTTPTimeout    = 10 * time.Second
	DefaultSMTPTimeout    = 20 * time.Second
)

// DeliverArgs is the deliver_message job: which message of which account,
// and the random token its email Message-ID is made of. It carries ids
// only; the worker reads the rest under the tenant.
type DeliverArgs struct {
	AccountID int64 `json:"account_id"`
	MessageID int64 `json:"message_id"`
	// Token is drawn once, when the job is enqueued, so that every retry
	// sends the same Message-ID (receivers drop repeats by it) while no one
	// can guess it. Empty on jobs enqueued before tokens existed.
	Token string `json:"token,omitempty"`
}

// Kind is the River job kind.
func (DeliverArgs) Kind() string { return "deliver_message" }

// UnseenArgs is the widget_unseen_reply job: a website reply checked
// UnseenAfter after it was stored for the widget; still unseen, it is
// mailed to the visitor (desk.WidgetUnseenMail).
type UnseenArgs struct {
	AccountID int64 `json:"account_id"`
	MessageID int64 `json:"message_id"`
}

// Kind is the River job kind.
func (UnseenArgs) Kind() string { return "widget_unseen_reply" }

// Config configures an Outbox.
type Config struct {
	DB   *tenancy.DB
	Desk *desk.Desk
	// Queue is the River queue the jobs go to (DefaultQueue when empty).
	Queue string
	// Workers is how many deliveries one replica runs at once.
	Workers int
	// AccountWorkers is how many of them one account may hold at once
	// (DefaultAccountWorkers when 0); an account's further jobs are snoozed
	// without holding a worker. Keep it below Workers, so that one account's
	// hanging endpoint always leaves workers for the others.
	AccountWorkers int
	// MaxAttempts bounds the tries of one delivery; after the last the
	// message is failed with the last error.
	MaxAttempts int
	// ConnectTimeout bounds DNS and the TCP handshake of one attempt;
	// HTTPTimeout and SMTPTimeout bound the whole attempt.
	ConnectTimeout time.Duration
	HTTPTimeout    time.Duration
	SMTPTimeout    time.Duration
	// RetryPolicy spaces the retries (River's default when nil: about
	// attempt^4 seconds, so 1s, 16s, 81s, ... up to ~40 min).
	RetryPolicy river.ClientRetryPolicy
	// FetchCooldown is the least time between two fetches of jobs by one
	// replica (5ms when 0). River's default of 100ms caps a replica at
	// Workers jobs per 100ms: 20 deliveries a second with 2 workers.
	FetchCooldown time.Duration
	// FetchPollInterval is the most time between two fetches (100ms when
	// 0). River fetches when a job is inserted or a full fetch's slot frees,
	// but a snoozed job coming due notifies no one: River's default of 1s
	// would leave the slots of an account with a backlog idle that long.
	FetchPollInterval time.Duration
	// HTTPClient posts webhooks. When nil, one with HTTPTimeout whose
	// connections go through the egress guard.
	HTTPClient *http.Client
	// AllowPrivateTargets lets webhooks and SMTP relays reach loopback,
	// private and other special-purpose addresses: the operator's switch
	// DESKWOOT_WEBHOOK_ALLOW_PRIVATE, for dev and tests.
	AllowPrivateTargets bool
	Logger              *slog.Logger
	// Also are further job kinds this River client works, each on a queue
	// of its own (people's mail, package mailout).
	Also []JobKinds
	// UnseenAfter is how long a website reply may stay unseen in the
	// widget before it is mailed (desk.UnseenReplyAfter when 0).
	UnseenAfter time.Duration
}

// JobKinds are job kinds another package runs on the outbox's River
// client: their queue, how many of its jobs one replica works at once, and
// their workers.
type JobKinds interface {
	Queue() (name string, workers int)
	AddWorkers(ws *river.Workers)
}

// Outbox enqueues deliveries and runs the workers that make them. It
// implements desk.DeliveryQueue.
type Outbox struct {
	cfg     Config
	dialer  egress.Dialer
	slots   *accountSlots
	client  *river.Client[pgx.Tx]
	started atomic.Bool
}

var _ desk.DeliveryQueue = (*Outbox)(nil)

// New builds the outbox on the app's pool. Call Start to run workers; an
// outbox that is never started only enqueues.
func New(cfg Config) (*Outbox, error) {
	if cfg.Queue == "" {
		cfg.Queue = DefaultQueue
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.AccountWorkers <= 0 {
		cfg.AccountWorkers = DefaultAccountWorkers
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = DefaultHTTPTimeout
	}
	if cfg.SMTPTimeout <= 0 {
		cfg.SMTPTimeout = DefaultSMTPTimeout
	}
	if cfg.FetchCooldown <= 0 {
		cfg.FetchCooldown = 5 * time.Millisecond
	}
	if cfg.FetchPollInterval <= 0 {
		cfg.FetchPollInterval = max(100*time.Millisecond, cfg.FetchCooldown)
	}
	dialer := egress.Dialer{AllowPrivate: cfg.AllowPrivateTargets, Timeout: cfg.ConnectTimeout,
		Hint: "set DESKWOOT_WEBHOOK_ALLOW_PRIVATE=true to deliver to internal webhooks and SMTP relays"}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = dialer.HTTPClient(cfg.HTTPTimeout)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.UnseenAfter <= 0 {
		cfg.UnseenAfter = desk.UnseenReplyAfter
	}
	o := &Outbox{cfg: cfg, dialer: dialer, slots: newAccountSlots(cfg.AccountWorkers)}
	workers := river.NewWorkers()
	river.AddWorker(workers, &deliverWorker{o: o})
	river.AddWorker(workers, &unseenWorker{o: o})
	queues := map[string]river.QueueConfig{cfg.Queue: {MaxWorkers: cfg.Workers}}
	for _, k := range cfg.Also {
		k.AddWorkers(workers)
		name, n := k.Queue()
		queues[name] = river.QueueConfig{MaxWorkers: max(n, 1)}
	}
	jobTimeout := max(cfg.HTTPTimeout, cfg.SMTPTimeout) + 15*time.Second
	client, err := river.NewClient(riverpgxv5.New(cfg.DB.Pool), &river.Config{
		Queues:            queues,
		Workers:           workers,
		FetchCooldown:     cfg.FetchCooldown,
		FetchPollInterval: cfg.FetchPollInterval,
		MaxAttempts:       cfg.MaxAttempts,
		RetryPolicy:       cfg.RetryPolicy,
		JobTimeout:        jobTimeout,
		// A job whose worker died mid-send (kill -9) is retried after this.
		RescueStuckJobsAfter: 2 * jobTimeout,
		// River logs every failed attempt; the message records it already.
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	o.client = client
	return o, nil
}

// EnqueueDelivery inserts the delivery job of an outgoing message in the
// caller's transaction (River's InsertTx), with the message's Message-ID
// token drawn now: 26 base32 characters, 130 random bits.
func (o *Outbox) EnqueueDelivery(ctx context.Context, tx pgx.Tx, accountID, messageID int64) error {
	_, err := o.client.InsertTx(ctx, tx, DeliverArgs{AccountID: accountID, MessageID: messageID, Token: rand.Text()},
		&river.InsertOpts{Queue: o.cfg.Queue, MaxAttempts: o.cfg.MaxAttempts})
	if err != nil {
		return fmt.Errorf("outbox: enqueue delivery of message %d: %w", messageID, err)
	}
	return nil
}

// Start runs the workers until ctx ends or Stop is called.
func (o *Outbox) Start(ctx context.Context) error {
	err := o.client.Start(ctx)
	o.started.Store(err == nil)
	return err
}

// Stop waits for running deliveries to finish (or ctx to end) and stops.
func (o *Outbox) Stop(ctx context.Context) error { return o.client.Stop(ctx) }

// Stopped is closed once the workers have stopped after Start (at once
// when they never started).
func (o *Outbox) Stopped() <-chan struct{} {
	if !o.started.Load() {
		c := make(chan struct{})
		close(c)
		return c
	}
	return o.client.Stopped()
}

// permanentError is a delivery failure that no retry can fix (a 4xx from
// the webhook, a 5xx SMTP reply, missing settings).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(format string, args ...any) error {
	return permanentError{fmt.Errorf(format, args...)}
}

type deliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	o *Outbox
}

// Work delivers one message and records the outcome. A failure retries with
// backoff until the last attempt, when (as for a permanent failure) the
// message is marked failed and the job cancelled. When the account already
// has AccountWorkers deliveries in flight here, the job is snoozed: it
// holds no worker and spends no attempt.
func (w *deliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	acct, id := job.Args.AccountID, job.Args.MessageID
	started := time.Now()
	if ok, snooze := w.o.slots.take(acct, started, snoozed(job.Metadata)); !ok {
		return river.JobSnooze(snooze)
	}
	defer func() { w.o.slots.give(acct, started, time.Now()) }()
	d := w.o.cfg.Desk
	dl, err := d.DeliveryLoad(ctx, acct, id)
	if errors.Is(err, desk.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("message %d of account %d is gone: %w", id, acct, err))
	}
	if errors.Is(err, desk.ErrInvalid) {
		err = permanentError{err}
	} else if errors.Is(err, tenancy.ErrUnavailable) {
		return river.JobSnooze(time.Second) // the database is away: no attempt spent
	} else if err != nil {
		return err // the database: retry
	}
	if err == nil && (dl.Message.Type != "outgoing" || dl.Message.DeliveryStatus == nil || *dl.Message.DeliveryStatus != desk.DeliveryPending) {
		return nil // already delivered (a repeat) or decided
	}
	var sourceID string
	if err == nil {
		sourceID, err = w.o.deliver(ctx, dl, job.Args.Token)
	}
	if err == nil && dl.Channel == "website" {
		// The widget shows the reply (it is stored); the check that mails
		// it if unseen is scheduled before the sent mark, so a crash in
		// between repeats the check, never loses it (a repeated check
		// mails once: it needs the reply still sent, not emailed).
		_, err = w.o.client.Insert(ctx, UnseenArgs{AccountID: acct, MessageID: id},
			&river.InsertOpts{Queue: w.o.cfg.Queue, ScheduledAt: time.Now().Add(w.o.cfg.UnseenAfter)})
	}
	if err == nil {
		if err := d.DeliveryRecord(ctx, acct, id, desk.DeliverySent, "", sourceID); err != nil {
			// Sent but not recorded: the retry sends again with the same key.
			if errors.Is(err, tenancy.ErrUnavailable) {
				return river.JobSnooze(time.Second)
			}
			return fmt.Errorf("record delivery of message %d: %w", id, err)
		}
		return nil
	}
	var perm permanentError
	final := errors.As(err, &perm) || job.Attempt >= job.MaxAttempts
	status := desk.DeliveryPending
	if final {
		status = desk.DeliveryFailed
	}
	msg := err.Error()
	if !final {
		msg = fmt.Sprintf("attempt %d of %d: %s; retrying", job.Attempt, job.MaxAttempts, msg)
	} else if !errors.As(err, &perm) {
		msg = fmt.Sprintf("gave up after %d attempts: %s", job.Attempt, msg)
	}
	if rerr := d.DeliveryRecord(ctx, acct, id, status, msg, ""); rerr != nil {
		w.o.cfg.Logger.Error("outbox: record delivery failure", "account_id", acct, "message_id", id, "err", rerr)
		return err // the job retries and records again
	}
	w.o.cfg.Logger.Warn("outbox: delivery failed", "account_id", acct, "message_id", id, "attempt", job.Attempt, "final", final, "err", err, "cause", cause(err))
	if final {
		return river.JobCancel(err)
	}
	return err
}

type unseenWorker struct {
	river.WorkerDefaults[UnseenArgs]
	o *Outbox
}

// Work mails a website reply that is still unseen.
func (w *unseenWorker) Work(ctx context.Context, job *river.Job[UnseenArgs]) error {
	err := w.o.cfg.Desk.WidgetUnseenMail(ctx, job.Args.AccountID, job.Args.MessageID)
	if errors.Is(err, tenancy.ErrUnavailable) {
		return river.JobSnooze(time.Second)
	}
	return err
}

// deliver sends the message on its inbox's channel. It returns the source
// id to record on the message (email: its Message-ID).
func (o *Outbox) deliver(ctx context.Context, dl desk.Delivery, token string) (string, error) {
	switch dl.Channel {
	case "api":
		return "", o.postWebhook(ctx, dl)
	case "email":
		return o.sendEmail(ctx, dl, token)
	case "website":
		return "", nil // stored is delivered: the open widget streams it (package widget)
	}
	return "", permanent("inbox channel %q cannot deliver messages", dl.Channel)
}

// connectError is a failed connection to a tenant's endpoint. Its text is
// the same whatever the cause (an address the egress guard refuses, a
// closed port, a timeout, a name that does not resolve), so that delivery
// errors cannot map the server's network; the cause goes to the log only.
// It is retried like any network error: failing at once would tell a
// refused address from a closed port by the delivery status.
type connectError struct {
	what, addr, fix string
	err             error
}

func (e connectError) Error() string {
	return fmt.Sprintf("could not connect to %s at %s; %s", e.what, e.addr, e.fix)
}
func (e connectError) Unwrap() error { return e.err }

// cause is what the server logs of a delivery error: the egress cause of a
// failed connection, which the recorded error leaves out.
func cause(err error) string {
	var de *egress.DialError
	if errors.As(err, &de) && de.Err != nil {
		return de.Err.Error()
	}
	return ""
}
