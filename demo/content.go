package demo

// The demo's words: help-center articles and customer conversations. They
// read like a small SaaS-and-shop support desk so that demos, screenshots and
// agent experiments have something true-to-life to work on.

type article struct{ title, body string }

var articles = []article{
	{
		title: "Refund policy",
		body: `We want you to be happy with Acme. If you are not, here is how refunds work.

Subscriptions: monthly plans can be cancelled at any time and stay active until the end of the paid period; we do not refund partial months. Annual plans are fully refundable within 30 days of purchase or renewal. After 30 days we refund the unused months, minus a 10% processing fee.

Physical orders: unopened items can be returned within 30 days of delivery for a full refund. Damaged or faulty items are refunded or replaced at no cost — send us a photo of the damage and your order number.

Duplicate charges are always refunded in full, usually the same business day.

How to ask for a refund: reply to your receipt email or open a chat from Settings → Billing, and include your order or invoice number. Refunds go back to the original payment method and take 5–10 business days to appear on your statement, depending on your bank.`,
	},
	{
		title: "How to reset your password",
		body: `Forgot your password? You can reset it in a minute.

1. Go to the sign-in page and click "Forgot password?".
2. Enter the email address you use for Acme and click "Send reset link".
3. Open the email from no-reply@acme.example and click the link within 60 minutes; after that it expires and you need a new one.
4. Choose a new password of at least 12 characters.

Not receiving the email? Check your spam or promotions folder, and make sure the address is the one on your account (it may be a work address). Corporate mail filters sometimes hold our messages: ask your IT team to allow no-reply@acme.example.

If your company signs in with SSO (Okta, Google Workspace, Azure AD), your password is managed by your identity provider and cannot be reset here — contact your IT administrator.

Lost access to your two-factor device? Use one of your backup codes, or contact support from your account email so we can verify your identity.`,
	},
	{
		title: "Shipping times and tracking",
		body: `Orders placed before 2 pm (CET) on a business day ship the same day from our warehouse in Rotterdam.

Estimated delivery times after dispatch:
- Netherlands, Belgium, Germany: 1–2 business days
- Rest of the EU: 2–4 business days
- United Kingdom and Switzerland: 3–5 business days (customs may add a day)
- United States and Canada: 5–8 business days
- Rest of the world: 7–14 business days

Express shipping halves these times for most destinations and is offered at checkout.

You get a tracking link by email as soon as your parcel leaves the warehouse. Tracking can take up to 24 hours to show the first scan. If your parcel has not moved for 5 business days, contact us with your order number and we will open an investigation with the carrier — and send a replacement if it is lost.`,
	},
	{
		title: "API rate limits",
		body: `The Acme API allows 600 requests per minute per API key on the Pro plan and 3,000 per minute on Enterprise. Limits are counted per key over a sliding one-minute window.

Every response carries the headers X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (seconds until the window frees up). When you go over the limit the API answers 429 Too Many Requests with a Retry-After header.

Best practices:
- Back off and retry after the number of seconds in Retry-After; use exponential backoff with jitter for repeated 429s.
- Use bulk endpoints (for example POST /v2/orders/bulk, up to 100 items) instead of one call per item.
- Subscribe to webhooks rather than polling for changes.
- Cache responses that rarely change, such as product catalogs.

Need a higher limit for a migration or a launch? Enterprise customers can ask support for a temporary increase; tell us the key prefix, the expected peak and the dates.`,
	},
}

// who writes a script line.
type who int

const (
	customer   who = iota
	adminReply     // outgoing reply by the admin
	agentReply     // outgoing reply by the second agent
	adminNote      // private note by the admin
	agentNote      // private note by the second agent
)

type line struct {
	who  who
	text string
}

// script is one customer conversation. visitor is the website chat's
// visitor id, which becomes the contact's identifier.
type script struct {
	name, email, visitor string
	lines                []line
}

var scripts = []script{
	{
		name: "Maria Gonzalez", email: "maria.gonzalez@example.com", visitor: "v-7f3a21",
		lines: []line{
			{customer, "Hi, I was charged twice for my March invoice (INV-20417). Both charges of $49.00 show on my card statement. Can you fix this?"},
			{adminReply, "Hi Maria, sorry about that! I can see two successful charges for INV-20417 — the second one came from a retry after a timeout. I've refunded the duplicate $49.00; it should appear on your statement within 5–10 business days."},
			{agentNote, "Payment provider retried after a gateway timeout. Third duplicate this week — flagged to the billing engineers."},
			{customer, "That was quick, thank you so much!"},
		},
	},
	{
		name: "Kenji Watanabe", email: "kenji.watanabe@example.jp", visitor: "v-19bc04",
		lines: []line{
			{customer, "I requested a password reset three times but the email never arrives. I checked spam too."},
			{agentReply, "Hi Kenji, I'm sorry for the trouble. Our logs show the reset emails were accepted by your mail server but may be held by a corporate filter. Could you ask your IT team to allow no-reply@acme.example? Meanwhile I've sent a fresh link that is valid for 60 minutes."},
			{customer, "Got it this time, it was in quarantine. I'm back in."},
			{agentReply, "Great to hear! I've linked our password reset guide in case it happens again. Have a good day."},
		},
	},
	{
		name: "Priya Raman", email: "priya@brightloop.io", visitor: "v-a0e991",
		lines: []line{
			{customer, "Our integration started getting 429 Too Many Requests errors this morning. We send about 800 requests a minute during our nightly sync. Is there a way to raise the limit?"},
			{adminNote, "BrightLoop is on Pro (600/min). They are evaluating Enterprise — loop in sales before promising anything."},
			{agentReply, "Hi Priya, your key is on the Pro plan, which allows 600 requests per minute. Two things will help right away: honour the Retry-After header on 429s, and use POST /v2/orders/bulk to send up to 100 orders per call — that should bring your sync well under the limit. If you still need more headroom, Enterprise allows 3,000 per minute and I'm happy to set up a call."},
		},
	},
	{
		name: "Tom Becker", email: "tom.becker@example.de", visitor: "v-5521dd",
		lines: []line{
			{customer, "Hallo, I ordered a standing desk frame on Monday (order #A-88213) and the tracking link still says 'label created'. When will it arrive?"},
			{adminReply, "Hi Tom, your order left our Rotterdam warehouse yesterday evening; the carrier's first scan can take up to 24 hours to appear. Deliveries to Germany usually take 1–2 business days, so you should have it by Friday."},
			{customer, "Perfect, danke!"},
		},
	},
	{
		name: "Aisha Bello", email: "aisha.bello@northwind.example", visitor: "v-c4e8f0",
		lines: []line{
			{customer, "Hi team, we're renewing our Enterprise contract next month and would like to add 40 seats. Can we get the new seats prorated from the renewal date?"},
			{adminNote, "Northwind: 250 seats, renews on the 1st. VIP — Alex owns this account personally."},
			{adminReply, "Hi Aisha, absolutely. I've prepared a quote that adds 40 seats prorated to your renewal date, so you'll get a single invoice going forward. I'll email it to you and your finance contact today."},
			{customer, "Wonderful, thanks Alex."},
		},
	},
	{
		name: "Lucas Martin", email: "lucas.martin@example.fr", visitor: "v-3d7712",
		lines: []line{
			{customer, "Exporting my orders to CSV fails with 'Something went wrong' whenever I pick a date range longer than 3 months."},
			{agentReply, "Thanks for reporting this, Lucas. I can reproduce it: exports over roughly 10,000 rows time out. As a workaround, please export one quarter at a time. I've filed it with our engineers and will update you when it's fixed."},
			{customer, "OK, quarterly exports work. Please let me know about the fix."},
			{agentNote, "Bug filed: EXP-412 — CSV export times out above ~10k rows. Customer wants an update when it ships."},
		},
	},
	{
		name: "Sofia Rossi", email: "sofia.rossi@example.it", visitor: "v-be0452",
		lines: []line{
			{customer, "Any plans for a dark mode in the dashboard? I work late and the white background is a lot."},
			{agentReply, "Hi Sofia, you're not the only one asking! I've added your vote to the dark mode request on our roadmap. I can't promise a date yet, but I'll let you know when it's in beta."},
		},
	},
	{
		name: "David Okafor", email: "d.okafor@example.com", visitor: "v-62f9a8",
		lines: []line{
			{customer, "I bought the annual plan 12 days ago but my team decided to go with another tool. Can I get a refund?"},
			{adminReply, "Hi David, sorry to see you go. Annual plans are fully refundable within 30 days of purchase, so you qualify for a full refund of $468.00. Shall I go ahead and cancel the subscription as well?"},
			{customer, "Yes please, cancel it and refund."},
			{adminReply, "Done — your subscription is cancelled and the $468.00 refund is on its way; it takes 5–10 business days to show on your statement. If you ever want to come back, your data stays available for 90 days."},
			{adminNote, "Churn reason: chose a competitor (cheaper per seat). Logged in the churn tracker."},
		},
	},
	{
		name: "Emma Johansson", email: "emma.johansson@example.se", visitor: "v-0a14c3",
		lines: []line{
			{customer, "I got a new phone and lost my authenticator app. I can't sign in anymore because of two-factor authentication."},
			{agentReply, "Hi Emma, I can help. If you saved your backup codes when you set up two-factor, any one of them will let you in. If not, please reply from your account email address so I can verify your identity and reset two-factor for you."},
			{customer, "Found the backup codes in my password manager, I'm in. Thanks!"},
		},
	},
	{
		name: "Chen Wei", email: "chen.wei@lumen-apps.example", visitor: "v-8877e2",
		lines: []line{
			{customer, "Our order.created webhook stopped firing yesterday around 15:00 UTC. Nothing changed on our side."},
			{agentNote, "Delivery log shows their endpoint returning 410 Gone since 14:52 UTC; the subscription was auto-disabled after 50 failures."},
			{agentReply, "Hi Chen, our delivery log shows your endpoint started answering 410 Gone at 14:52 UTC, and after 50 failed deliveries the webhook was disabled automatically. Once the endpoint is back, re-enable it under Settings → Webhooks and use 'Replay failed deliveries' to catch up."},
			{customer, "You're right, a deploy removed the route. It's fixed and replaying now."},
		},
	},
	{
		name: "Olivia Brown", email: "olivia.brown@example.co.uk", visitor: "v-d1c6b7",
		lines: []line{
			{customer, "Can you change the company address on our invoices? We moved offices last month."},
			{adminReply, "Hi Olivia, you can update it yourself under Settings → Billing → Invoice details, and it will apply to all future invoices. If you'd like last month's invoice reissued with the new address, just tell me the invoice number."},
		},
	},
	{
		name: "Rahul Mehta", email: "rahul.mehta@example.in", visitor: "v-4b2e90",
		lines: []line{
			{customer, "My monitor arm arrived today but the clamp is cracked. Order #A-87950."},
			{customer, "Here is a photo of the damage: https://photos.example/rahul/clamp.jpg"},
			{agentReply, "I'm sorry it arrived damaged, Rahul. Thanks for the photo — I've shipped a replacement clamp by express at no cost; you'll get tracking by email shortly. No need to send the broken one back."},
		},
	},
}

// workflow is where a seeded conversation stands after its lines: labels,
// status, priority, and whether it went to the Tier 2 team.
type workflow struct {
	labels   []string
	status   string
	priority string
	toTeam   bool
}

// workflows by customer name; conversations not listed stay open.
var workflows = map[string]workflow{
	"Maria Gonzalez": {labels: []string{"billing", "refund"}, status: "resolved"},
	"Kenji Watanabe": {labels: []string{"bug"}, priority: "high"},
	"Priya Raman":    {labels: []string{"bug"}, priority: "urgent", toTeam: true},
	"Tom Becker":     {status: "pending"},
	"Aisha Bello":    {labels: []string{"billing", "vip"}, priority: "medium"},
	"Lucas Martin":   {labels: []string{"bug"}, toTeam: true},
	"Sofia Rossi":    {labels: []string{"feature-request"}, status: "resolved"},
	"David Okafor":   {labels: []string{"refund", "billing"}, priority: "medium"},
	"Emma Johansson": {priority: "high", toTeam: true},
	"Chen Wei":       {labels: []string{"bug", "vip"}, priority: "urgent", toTeam: true},
	"Olivia Brown":   {labels: []string{"billing"}, status: "resolved"},
	"Rahul Mehta":    {labels: []string{"refund"}, status: "pending", priority: "low"},
}

// mail is a customer email that starts a conversation on the email inbox.
type mail struct {
	from, name, subject, text string
}

var mails = []mail{
	{"jonas.weber@example.de", "Jonas Weber", "Invoice needs our VAT number",
		"Hello,\n\nour invoices for October and November are missing our VAT number (DE 298 114 602). Our accountant needs corrected copies.\n\nThanks,\nJonas"},
	{"grace.kim@example.kr", "Grace Kim", "Delivery to a PO box?",
		"Hi! Do you ship to PO boxes in Seoul? The checkout rejects my address.\n\nGrace"},
}
