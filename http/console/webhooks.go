package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"authrim/http/management"
	"authrim/webhooks"
)

// Webhook subscriptions: the admin API's own operations
// (management.WebhookOps), so a change here is checked and audited as
// one made through /admin/webhooks or `authrim webhooks`.

func (c *Console) webhookOps(e echo.Context) (*management.WebhookOps, error) {
	if w := c.admin.Webhooks(); w != nil {
		return w, nil
	}
	return nil, c.errorPage(e, http.StatusNotFound, "Webhooks are not kept on this node.")
}

// eventList reads the events field: event types, prefixes ending in *
// or *, separated by commas, spaces or lines.
func eventList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

func (c *Console) webhooksPage(e echo.Context) error {
	return c.showWebhooks(e, http.StatusOK, "", nil)
}

func (c *Console) showWebhooks(e echo.Context, status int, msg string, form map[string]string) error {
	w, err := c.webhookOps(e)
	if w == nil {
		return err
	}
	list, err := w.List(e.Request().Context())
	if err != nil {
		return c.fail(e, err)
	}
	slices.SortFunc(list, func(a, b webhooks.View) int { return a.Created.Compare(b.Created) })
	return c.render(e, status, "webhooks.html", map[string]any{
		"Title": c.tr(e, "Webhooks"), "Nav": "webhooks", "Webhooks": list, "Notice": c.notice(e), "Error": msg, "Form": form,
	})
}

func (c *Console) createWebhook(e echo.Context) error {
	w, err := c.webhookOps(e)
	if w == nil {
		return err
	}
	form := map[string]string{"url": strings.TrimSpace(e.FormValue("url")), "events": e.FormValue("events"), "description": strings.TrimSpace(e.FormValue("description"))}
	v, err := w.Create(e.Request().Context(), webhooks.New{URL: form["url"], Events: eventList(form["events"]), Description: form["description"]})
	if err != nil {
		if msg, ok := c.refused(e, err, "webhook"); ok {
			return c.showWebhooks(e, http.StatusBadRequest, msg, form)
		}
		return c.fail(e, err)
	}
	return c.showWebhookSecret(e, v, c.tr(e, "The webhook was created."))
}

// showWebhookSecret shows a subscription's new secret, once: it is
// stored sealed and never shown again.
func (c *Console) showWebhookSecret(e echo.Context, v webhooks.View, msg string) error {
	return c.render(e, http.StatusOK, "webhook_secret.html", map[string]any{
		"Title": v.ID, "Nav": "webhooks", "Webhook": v, "Notice": msg,
	})
}

func (c *Console) webhookPage(e echo.Context) error {
	return c.showWebhook(e, http.StatusOK, "", nil)
}

// withHook runs fn with the subscription the request's :id names, or
// answers that there is none.
func (c *Console) withHook(e echo.Context, fn func(w *management.WebhookOps, v webhooks.View) error) error {
	w, err := c.webhookOps(e)
	if w == nil {
		return err
	}
	v, err := w.Get(e.Request().Context(), e.Param("id"))
	if err != nil {
		if m, ok := c.refused(e, err, "webhook"); ok {
			return c.message(e, http.StatusNotFound, m)
		}
		return c.fail(e, err)
	}
	return fn(w, v)
}

func (c *Console) showWebhook(e echo.Context, status int, msg string, form map[string]string) error {
	return c.withHook(e, func(w *management.WebhookOps, v webhooks.View) error {
		attempts, err := w.Attempts(e.Request().Context(), v.ID)
		if err != nil {
			return c.fail(e, err)
		}
		slices.Reverse(attempts) // the latest first
		if form == nil {
			form = map[string]string{"url": v.URL, "events": strings.Join(v.Events, ", "), "description": v.Description}
		}
		return c.render(e, status, "webhook.html", map[string]any{
			"Title": v.ID, "Nav": "webhooks", "Webhook": v, "Attempts": attempts, "Form": form, "Notice": c.notice(e), "Error": msg,
		})
	})
}

// webhookAction: POST /admin/console/webhooks/{id}/{edit,enable,disable,
// rotate-secret,delete}. Rotating and deleting ask first: both stop the
// receiver from getting verifiable events.
func (c *Console) webhookAction(e echo.Context) error {
	return c.withHook(e, func(w *management.WebhookOps, v webhooks.View) error {
		ctx := e.Request().Context()
		back := Base + "/webhooks/" + url.PathEscape(v.ID)
		var form map[string]string
		var err error
		switch action := e.Param("action"); action {
		case "edit":
			form = map[string]string{"url": strings.TrimSpace(e.FormValue("url")), "events": e.FormValue("events"), "description": strings.TrimSpace(e.FormValue("description"))}
			events := eventList(form["events"])
			if _, err = w.Update(ctx, v.ID, webhooks.Patch{URL: new(form["url"]), Events: &events, Description: new(form["description"])}); err == nil {
				return done(e, back, "webhook-updated")
			}
		case "enable", "disable":
			if _, err = w.Update(ctx, v.ID, webhooks.Patch{Enabled: new(action == "enable")}); err == nil {
				return done(e, back, "webhook-"+action+"d")
			}
		case "rotate-secret":
			if e.FormValue("confirm") != "yes" {
				return c.confirm(e, back+"/rotate-secret", c.tr(e, "Give %s a new secret? Deliveries are signed with it at once: the receiver must be given it.", v.URL),
					c.tr(e, "Rotate secret"), back, nil)
			}
			if v, err = w.RotateSecret(ctx, v.ID); err == nil {
				return c.showWebhookSecret(e, v, c.tr(e, "The webhook has a new secret; the old one signs nothing more."))
			}
		case "delete":
			if e.FormValue("confirm") != "yes" {
				return c.confirm(e, back+"/delete", c.tr(e, "Delete the webhook to %s? Events waiting for it are dropped.", v.URL), c.tr(e, "Delete webhook"), back, nil)
			}
			if err = w.Delete(ctx, v.ID); err == nil {
				return done(e, Base+"/webhooks", "webhook-deleted")
			}
		default:
			return echo.ErrNotFound
		}
		if msg, ok := c.refused(e, err, "webhook"); ok {
			return c.showWebhook(e, http.StatusBadRequest, msg, form)
		}
		return c.fail(e, err)
	})
}
